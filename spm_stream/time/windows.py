"""Time windows: which day an instant falls in, and which days make up a period.

Counters are kept per local calendar day of their scope; every longer period
(ISO week, month, quarter, year, rolling 7/30/90 days) is the sum of its days,
so no period ever needs the raw events again. Boundaries follow the zone: a
month in Europe/Berlin starts at local midnight, DST included.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

__all__ = [
    "PERIOD_KINDS",
    "Period",
    "PeriodKind",
    "day_bucket",
    "day_span",
    "period_containing",
    "utc_day",
]

PeriodKind = Literal[
    "day", "week", "month", "quarter", "year", "rolling_7", "rolling_30", "rolling_90"
]
PERIOD_KINDS: Final[tuple[str, ...]] = get_args(PeriodKind)


def day_bucket(instant: datetime, zone: ZoneInfo) -> str:
    """The period key of the local calendar day of ``instant`` in ``zone``: "day:YYYY-MM-DD"."""
    return "day:" + instant.astimezone(zone).date().isoformat()


def day_span(instant: datetime, zone: tzinfo) -> tuple[datetime, datetime] | None:
    """The UTC instants [start, end) of the local day of ``instant`` in ``zone``, or None
    when a DST change skips or repeats one of its midnights.

    Lets a caller reuse what it derived from a local day for every instant of that day.
    """
    return _local_day_span(instant.astimezone(zone).date(), zone)


@functools.lru_cache(maxsize=4096)
def _local_day_span(day: date, zone: tzinfo) -> tuple[datetime, datetime] | None:
    start = _midnight(day, zone)
    end = _midnight(day + timedelta(days=1), zone)
    if start is None or end is None:
        return None
    return start, end


def _midnight(day: date, zone: tzinfo) -> datetime | None:
    """Local midnight starting ``day`` as a UTC instant; None if it is skipped or repeated."""
    at = datetime.combine(day, time(), zone)
    # Both folds agree only on a wall time that occurs exactly once. With both ends
    # of a day occurring once, local time never leaves the day in between: a DST
    # change inside it (02:00 -> 03:00) moves the clock, not the date.
    if at.utcoffset() != at.replace(fold=1).utcoffset():
        return None
    return at.astimezone(UTC)


def utc_day(instant: datetime) -> str:
    """The UTC calendar day of an instant (names the dedupe set an event_id goes in)."""
    return instant.astimezone(UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class Period:
    """A run of whole local days [first, last] in a zone."""

    kind: str
    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """Local midnight at which the period begins."""
        return datetime.combine(self.first, time(), self.zone)

    @property
    def end(self) -> datetime:
        """Local midnight at which it ends (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), self.zone)

    def days(self) -> list[date]:
        """Every local day of the period, in order."""
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def buckets(self) -> list[str]:
        """The day bucket keys ("day:YYYY-MM-DD") whose sum is this period."""
        return [f"day:{d.isoformat()}" for d in self.days()]

    def as_json(self) -> dict[str, str]:
        """{"kind", "start", "end"} with ISO timestamps carrying the zone's offset."""
        return {"kind": self.kind, "start": self.start.isoformat(), "end": self.end.isoformat()}


def period_containing(kind: str, at: date, zone: ZoneInfo) -> Period:
    """The period of ``kind`` containing local day ``at`` (rolling_N: the N days ending there)."""
    if kind == "day":
        first, last = at, at
    elif kind == "week":
        first = at - timedelta(days=at.isoweekday() - 1)
        last = first + timedelta(days=6)
    elif kind == "month":
        first = at.replace(day=1)
        last = _next_month(first) - timedelta(days=1)
    elif kind == "quarter":
        first = date(at.year, 3 * ((at.month - 1) // 3) + 1, 1)
        last = _next_month(_next_month(_next_month(first))) - timedelta(days=1)
    elif kind == "year":
        first, last = date(at.year, 1, 1), date(at.year, 12, 31)
    elif kind.startswith("rolling_") and kind in PERIOD_KINDS:
        length = int(kind.removeprefix("rolling_"))
        first, last = at - timedelta(days=length - 1), at
    else:
        raise ValueError(f"unknown period {kind!r}; expected one of {', '.join(PERIOD_KINDS)}")
    return Period(kind, first, last, zone)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
