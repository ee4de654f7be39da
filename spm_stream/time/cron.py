"""Cron expressions for scheduled posts: ``minute hour day-of-month month day-of-week`` (pure).

The five standard fields with ``*``, lists (``1,15``), ranges (``1-5``) and
steps (``*/15``, ``9-17/2``); day of week 0-6 with 0 = Sunday (7 is Sunday
too). As in cron, when both day fields are restricted, either may match.
Times are wall-clock times in a zone, so ``0 17 * * 1-5`` is 17:00 local on
weekdays across DST changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["Cron", "last_fire"]

_BOUNDS: Final = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES: Final = ("minute", "hour", "day of month", "month", "day of week")


def _field(text: str, low: int, high: int, name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"{name}: bad step in {part!r}")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ValueError(f"{name}: bad range {base!r}")
            start, end = int(a), int(b)
        elif base.isdigit():
            start = end = int(base)
            if step is not None:
                end = high
        else:
            raise ValueError(f"{name}: cannot read {part!r}")
        if not low <= start <= end <= high:
            raise ValueError(f"{name}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed cron expression."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        """Parse five fields; ValueError names the field that is wrong."""
        parts = text.split()
        if len(parts) != 5:
            raise ValueError("expected five fields: minute hour day-of-month month day-of-week")
        fields = [
            _field(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _BOUNDS, _NAMES, strict=True)
        ]
        weekdays = frozenset(d % 7 for d in fields[4])
        return cls(
            fields[0], fields[1], fields[2], fields[3], weekdays, parts[2] == "*", parts[4] == "*"
        )

    def matches(self, local: datetime) -> bool:
        """True when the wall-clock minute ``local`` is one the expression names."""
        if local.minute not in self.minutes or local.hour not in self.hours:
            return False
        if local.month not in self.months:
            return False
        day_ok = local.day in self.days
        weekday_ok = (local.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day_ok and weekday_ok
        return day_ok or weekday_ok


def last_fire(cron: Cron, after: datetime, until: datetime, zone: ZoneInfo) -> datetime | None:
    """The latest minute in (after, until] at which ``cron`` fires in ``zone`` (<= 8 days back)."""
    start = max(after, until - timedelta(days=8))
    minute = until.astimezone(zone).replace(second=0, microsecond=0)
    while minute > start:
        if cron.matches(minute):
            return minute
        minute = (minute.astimezone(ZoneInfo("UTC")) - timedelta(minutes=1)).astimezone(zone)
    return None
