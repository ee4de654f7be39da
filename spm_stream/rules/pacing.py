"""Pacing: where a rep should be by now, given a target and the working time elapsed (pure).

Expected progress = target * elapsed share of the period's working time, in the
rep's zone and calendar (docs/slack-and-alerts.md). A rep is behind when actual < expected *
threshold; with threshold 0.8, 10 calls by Wednesday noon of a 50-call week
(expected 25) is behind, 20 is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from spm_stream.metrics.table import RATE_TARGETS
from spm_stream.time.windows import Period
from spm_stream.time.worktime import WorkCalendar, working_seconds

__all__ = ["Pace", "elapsed_share", "pace"]


def elapsed_share(cal: WorkCalendar, period: Period, now: datetime) -> float:
    """Share in [0, 1] of the period's working time that lies before ``now``."""
    total = working_seconds(cal, period.start, period.end)
    if total == 0:
        # A period without working time (a holiday week) is "done" only once it is over.
        return 1.0 if now >= period.end else 0.0
    return working_seconds(cal, period.start, min(now, period.end)) / total


@dataclass(frozen=True, slots=True)
class Pace:
    """One metric's progress against its target at an instant."""

    metric: str
    actual: float
    target: float
    expected: float
    share: float

    def behind(self, threshold: float) -> bool:
        """True when actual is below ``threshold`` * the expected progress."""
        return self.actual < self.expected * threshold

    @property
    def gap(self) -> float:
        """How much is missing to be on pace (0 when on or ahead)."""
        return max(0.0, self.expected - self.actual)

    @property
    def unit(self) -> str:
        """ "percent" for a rate (reach rate 34.5 %), "count" for what is counted."""
        return "percent" if self.metric in RATE_TARGETS else "count"

    def as_json(self) -> dict[str, float | str]:
        """Plain data for alerts and templates: counts as whole numbers (nobody makes 14.6
        calls; the gap rounds up, so doing it is enough), rates to one decimal."""
        if self.unit == "count":
            expected: float = round(self.expected)
            gap: float = math.ceil(self.gap - 1e-9) if self.gap > 0 else 0
        else:
            expected, gap = round(self.expected, 1), round(self.gap, 1)
        return {
            "metric": self.metric,
            "unit": self.unit,
            "actual": round(self.actual, 1) if self.unit == "percent" else self.actual,
            "target": self.target,
            "expected": expected,
            "share": round(self.share, 4),
            "gap": gap,
        }


def pace(
    metric: str, actual: float, target: float, period: Period, now: datetime, cal: WorkCalendar
) -> Pace:
    """The pace of ``actual`` against ``target`` for ``period`` at ``now``."""
    share = elapsed_share(cal, period, now)
    return Pace(metric, actual, target, target * share, share)
