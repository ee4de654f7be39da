"""Working time: which instants are working hours in a person's zone and calendar (pure).

Pacing measures the elapsed share of a period's *working* time, and the no-show
watch escalates after N *working* hours, so both need the same arithmetic:
how much working time lies between two instants, and which instant lies a
given amount of working time after another. Each working day's window is the
local wall-clock interval [start, end) of that day in the zone, so a DST change
moves the window with the clock, as people do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = ["ALWAYS", "WorkCalendar", "add_working_time", "next_working_instant", "working_seconds"]

#: How far ahead the search for working time may look before the calendar is called empty.
_HORIZON_DAYS: Final = 4 * 366


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Working days (0 = Monday), daily hours [start, end) and holidays, in one zone."""

    zone: ZoneInfo
    days: frozenset[int] = frozenset(range(5))
    start: time = time(9)
    end: time = time(17)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("working days must be a non-empty subset of 0..6 (Monday = 0)")
        if self.end <= self.start and self.end != time(0):
            raise ValueError("working hours must end after they start (00:00 means midnight)")

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's working interval in UTC, or None on a day off."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        opens = datetime.combine(day, self.start, self.zone)
        # End 00:00 means the following midnight (a 24-hour day for "always").
        closes_day = day + timedelta(days=1) if self.end == time(0) else day
        closes = datetime.combine(closes_day, self.end, self.zone)
        # In UTC: subtracting two datetimes of one ZoneInfo ignores a DST change between them.
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def windows_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows that end after ``instant``, in order, clipped to start at it."""
        instant = instant.astimezone(UTC)
        day = instant.astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(_HORIZON_DAYS):
            win = self.window(day + timedelta(days=offset))
            if win is not None and win[1] > instant:
                yield max(win[0], instant), win[1]


#: Every hour of every day in UTC: no working-time restriction at all.
ALWAYS: Final = WorkCalendar(ZoneInfo("UTC"), frozenset(range(7)), time(0), time(0))


def working_seconds(cal: WorkCalendar, start: datetime, end: datetime) -> float:
    """Working time in seconds between two instants (0 when end is not after start)."""
    # Summed as timedeltas (exact microseconds), converted once: no float drift.
    total, end = timedelta(), end.astimezone(UTC)
    for opens, closes in cal.windows_from(start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return max(total, timedelta()).total_seconds()


def add_working_time(cal: WorkCalendar, start: datetime, seconds: float) -> datetime:
    """The instant at which ``seconds`` of working time have passed since ``start``."""
    remaining = max(0.0, seconds)
    for opens, closes in cal.windows_from(start):
        span = (closes - opens).total_seconds()
        if remaining <= span:
            return opens + timedelta(seconds=remaining) if remaining else opens
        remaining -= span
    raise ValueError("the calendar has no working time within four years")


def next_working_instant(cal: WorkCalendar, instant: datetime) -> datetime:
    """``instant`` itself during working hours, else the start of the next working window."""
    return add_working_time(cal, instant, 0)
