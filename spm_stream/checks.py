"""Start-up checks of the whole configuration, shared by `spm-stream worker` and `config check`.

Everything a sales-ops admin can get wrong is found before any connection: the
SPM_* variables (a misspelt one is reported, not silently ignored), the people
file, the targets file and how the two refer to each other. Errors raise
``ConfigError`` naming the variable, file and key; doubts are warnings.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from spm_stream.directory import Directory, load_directory
from spm_stream.settings import ENV_PREFIX, ConfigError, Settings
from spm_stream.targets import Targets, load_targets, unknown_scopes

__all__ = ["TOOLING_VARIABLES", "Checked", "check_configuration", "unknown_variables"]

#: SPM_* variables read by the repository's scripts and tests, not by the service.
TOOLING_VARIABLES: Final = frozenset(
    {
        "SPM_ARTIFACTS_DIR",  # tests: where screenshots are kept
        "SPM_CACHE_DIR",  # .ci/run, scripts/services.sh: downloads
        "SPM_KAFKA_CONTROLLER_PORT",  # scripts/services.sh
        "SPM_KAFKA_PORT",  # scripts/services.sh
        "SPM_REDIS_PORT",  # scripts/services.sh
        "SPM_SERVICES_DIR",  # scripts/services.sh: runtime state
        "SPM_TEST_TAG",  # tests: the isolated deployment's tag
        "SPM_UPDATE_SNAPSHOTS",  # tests: rewrite the message snapshots
    }
)


@dataclass(frozen=True)
class Checked:
    """The validated files, and what looked doubtful."""

    directory: Directory
    targets: Targets
    warnings: list[str]


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each SPM_* variable nothing reads, with the likely intended one."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | TOOLING_VARIABLES
    found = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append(f"{name}: unknown variable, ignored{hint}")
    return found


def check_configuration(settings: Settings, environ: Mapping[str, str]) -> Checked:
    """Load and cross-check the people and targets files; ConfigError on the first error."""
    try:
        directory = load_directory(settings.config)
    except ConfigError as exc:
        raise ConfigError(f"{ENV_PREFIX}CONFIG: {exc}") from None
    try:
        targets = load_targets(settings.targets)
    except ConfigError as exc:
        raise ConfigError(f"{ENV_PREFIX}TARGETS: {exc}") from None
    if problems := unknown_scopes(targets, directory.reps(), directory.teams):
        raise ConfigError(f"{ENV_PREFIX}TARGETS: {settings.targets}: {'; '.join(problems)}")
    warnings = unknown_variables(environ)
    if settings.config is not None and not directory.people and not directory.teams:
        warnings.append(
            f"{ENV_PREFIX}CONFIG: {settings.config} has no teams and no people: "
            "nobody gets Slack messages"
        )
    return Checked(directory, targets, warnings)
