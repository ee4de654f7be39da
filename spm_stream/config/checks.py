"""Start-up checks of the whole configuration, shared by `spm-stream worker` and `config check`.

Everything a sales-ops admin can get wrong is found before any connection: the
SPM_* variables (a misspelt one is reported, not silently ignored), the people
file, the targets file and how the two refer to each other. Errors raise
``ConfigError`` naming the variable, file and key; doubts are warnings.
"""

from __future__ import annotations

import difflib
import os
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from spm_stream.config.directory import Directory, load_directory
from spm_stream.config.settings import ENV_PREFIX, ConfigError, Settings
from spm_stream.config.targets import Targets, load_targets, unknown_scopes

__all__ = [
    "TOOLING_VARIABLES",
    "Checked",
    "ServiceDown",
    "check_configuration",
    "require_services",
    "unknown_variables",
]

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
    if directory.scorecards and "default" not in directory.scorecards:
        warnings += [
            f"people.{pid}.role: no scorecard {person.role or 'default'!r} in scorecards:, "
            f"so {person.name or pid} is not ranked on score boards"
            for pid, person in sorted(directory.people.items())
            if pid in directory.reps() and (person.role or "default") not in directory.scorecards
        ]
    return Checked(directory, targets, warnings)


class ServiceDown(RuntimeError):
    """A service a command needs does not answer; the message names where and what to check."""


#: Kafka's ApiVersions v0 request, correlation id 0x5350 ("SP"), client id "spm-check":
#: every broker version answers it, before any authentication.
_KAFKA_PROBE: Final = struct.pack(">ihhih", 2 + 2 + 4 + 2 + 9, 18, 0, 0x5350, 9) + b"spm-check"


def _answers(
    host: str, port: int, timeout_s: float, probe: bytes | None, expect: Callable[[bytes], bool]
) -> str | None:
    """None when the service at host:port answers ``probe`` as ``expect`` says, else why not.

    A TCP connection alone proves little: a proxy or another program may accept it.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as conn:
            if probe is None:
                return None
            conn.sendall(probe)
            reply = conn.recv(64)
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None if expect(reply) else "something answers there, but not this service"


def _is_kafka(reply: bytes) -> bool:
    return len(reply) >= 8 and struct.unpack(">i", reply[4:8])[0] == 0x5350


def _is_redis(reply: bytes) -> bool:
    return reply[:1] in (b"+", b"-")  # +PONG, or -NOAUTH: Redis either way


def require_services(
    settings: Settings, *, kafka: bool = False, redis: bool = False, timeout_s: float = 3.0
) -> None:
    """Fail in seconds, with one line, when Kafka or Redis is not there: the clients would
    retry for half a minute and end in a long traceback."""
    if kafka:
        hosts = settings.bootstrap_servers
        reasons = []
        for host in hosts:
            name, _, port = host.rpartition(":")
            reason = _answers(name.strip("[]"), int(port), timeout_s, _KAFKA_PROBE, _is_kafka)
            if reason is None:
                break
            reasons.append(reason)
        else:
            raise ServiceDown(
                f"Kafka does not answer at {', '.join(hosts)} ({ENV_PREFIX}KAFKA_URL): "
                f"{reasons[0]}. Is the broker running, and is the address right?"
            )
    if redis:
        url = settings.require_redis()
        parts = urlsplit(url)
        shown = f"{parts.hostname}:{parts.port or 6379}"
        if parts.scheme == "unix":
            shown = parts.path
            reason = None if os.path.exists(parts.path) else "no such socket"
        else:
            # TLS (rediss://) speaks no plain PING: the connection is all that is checked.
            probe = b"PING\r\n" if parts.scheme == "redis" else None
            host = parts.hostname or "localhost"
            reason = _answers(host, parts.port or 6379, timeout_s, probe, _is_redis)
        if reason is not None:
            raise ServiceDown(
                f"Redis does not answer at {shown} ({ENV_PREFIX}REDIS_URL): {reason}. "
                "Is it running, and is the address right?"
            )
