"""Targets and quotas per metric and period: defaults, team and rep overrides, from YAML.

A rep's target for a metric is the rep's own, else its team's, else the default;
a team's is the team's own, else the default; the org's is ``org:``'s, else the
default. The outbound benchmarks of seed 001 ship as defaults: reach rate 40 %,
success rate 11 %, pipe rate 73 %. ``ReloadingTargets`` re-reads the file when it
changes, so targets change without a restart; a broken edit keeps the last good
version and logs why.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from spm_stream.config.files import load_yaml_model
from spm_stream.config.settings import ConfigError
from spm_stream.contract.currencies import ISO_4217
from spm_stream.metrics.table import COUNT_TARGETS, RATE_TARGETS
from spm_stream.time.windows import PERIOD_KINDS

__all__ = [
    "ReloadingTargets",
    "ScopeTargets",
    "Targets",
    "load_targets",
    "unknown_scopes",
]

log = logging.getLogger("spm_stream.config.targets")


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ScopeTargets(BaseModel):
    """Targets of one scope: quota per period and currency, rate and count targets."""

    model_config = ConfigDict(extra="allow", frozen=True)

    quota: dict[str, dict[str, Positive]] = Field(default_factory=dict)
    reach_rate: Positive | None = None
    success_rate: Positive | None = None
    pipe_rate: Positive | None = None
    win_rate: Positive | None = None
    quote_acceptance_rate: Positive | None = None
    no_show_rate: Positive | None = None
    nps: float | None = Field(default=None, ge=-100, le=100)

    @model_validator(mode="after")
    def _check(self) -> ScopeTargets:
        for kind, amounts in self.quota.items():
            if kind not in PERIOD_KINDS:
                raise ValueError(
                    f"quota.{kind}: unknown period (expected {', '.join(PERIOD_KINDS)})"
                )
            for currency in amounts:
                if currency not in ISO_4217:
                    raise ValueError(f"quota.{kind}.{currency}: unknown ISO 4217 currency code")
        for name, value in (self.model_extra or {}).items():
            if name not in COUNT_TARGETS:
                raise ValueError(
                    f"{name}: unknown metric (rates: {', '.join(RATE_TARGETS)}; "
                    f"counts: {', '.join(COUNT_TARGETS)})"
                )
            if not isinstance(value, dict):
                raise ValueError(f"{name}: expected a positive number per period, e.g. {{day: 50}}")
            for kind, target in value.items():
                if kind not in PERIOD_KINDS:
                    raise ValueError(
                        f"{name}.{kind}: unknown period (expected {', '.join(PERIOD_KINDS)})"
                    )
                if isinstance(target, bool) or not isinstance(target, int | float) or target <= 0:
                    raise ValueError(f"{name}.{kind}: expected a positive number, got {target!r}")
        return self

    def counts(self) -> dict[str, dict[str, float]]:
        """Count targets per metric and period kind."""
        return {k: dict(v) for k, v in (self.model_extra or {}).items()}


SHIPPED_DEFAULTS: Final = ScopeTargets(reach_rate=40, success_rate=11, pipe_rate=73)


class Targets(BaseModel):
    """The whole targets file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: ScopeTargets = SHIPPED_DEFAULTS
    org: ScopeTargets | None = None
    teams: dict[str, ScopeTargets] = Field(default_factory=dict)
    reps: dict[str, ScopeTargets] = Field(default_factory=dict)

    def chain(self, scope: str, scope_id: str, team: str | None = None) -> list[ScopeTargets]:
        """Most specific first: the scope's own targets, its team's (reps), the defaults."""
        own = {"rep": self.reps, "team": self.teams}.get(scope, {}).get(scope_id)
        if scope == "org":
            own = self.org
        found = [own] if own else []
        if scope == "rep" and team is not None and team in self.teams:
            found.append(self.teams[team])
        return [*found, self.defaults]

    def for_scope(
        self, scope: str, scope_id: str, period_kind: str, team: str | None = None
    ) -> dict[str, Any]:
        """Resolved targets of a scope for one period kind: quota, rates and counts."""
        chain = self.chain(scope, scope_id, team)
        out: dict[str, Any] = {}
        quota = next((t.quota[period_kind] for t in chain if period_kind in t.quota), None)
        if quota is not None:
            out["quota"] = dict(quota)
        for metric in RATE_TARGETS:
            value = next(
                (getattr(t, metric) for t in chain if getattr(t, metric) is not None), None
            )
            if value is not None:
                out[metric] = value
        for metric in COUNT_TARGETS:
            value = next(
                (
                    t.counts()[metric][period_kind]
                    for t in chain
                    if period_kind in t.counts().get(metric, {})
                ),
                None,
            )
            if value is not None:
                out[metric] = value
        return out


def load_targets(path: Path | None) -> Targets:
    """Load and validate a targets file; no file means the shipped defaults."""
    return Targets() if path is None else load_yaml_model(path, Targets)


def unknown_scopes(targets: Targets, reps: Collection[str], teams: Collection[str]) -> list[str]:
    """Targets for reps or teams the people file does not have (a typo sets nobody's target).
    Empty when the people file lists nobody: there is nothing to check against."""
    found = []
    if reps:
        found += [
            f"reps.{r}: unknown rep (not in SPM_CONFIG's people)"
            for r in targets.reps
            if r not in reps
        ]
    if teams:
        found += [
            f"teams.{t}: unknown team (not in SPM_CONFIG's teams)"
            for t in targets.teams
            if t not in teams
        ]
    return found


class ReloadingTargets:
    """Targets that follow their file: re-read when its modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._targets = load_targets(path)  # a broken file fails start-up
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path else None
        except OSError:
            return None

    def current(self) -> Targets:
        """The latest valid targets."""
        mtime = self._stat()
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self._targets = load_targets(self.path)
                log.info("targets reloaded from %s", self.path)
            except ConfigError as exc:
                log.error("targets not reloaded, keeping the previous ones: %s", exc)
        return self._targets
