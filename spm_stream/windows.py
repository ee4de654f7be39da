"""Time windows: which period bucket an instant falls in, in a given time zone.

Counters are kept per day in the zone of their scope; longer periods are sums
of days, so a change of time zone or period never needs the raw events again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["day_bucket", "utc_day"]


def day_bucket(instant: datetime, zone: ZoneInfo) -> str:
    """The period key of the local calendar day of ``instant`` in ``zone``: "day:YYYY-MM-DD"."""
    return "day:" + instant.astimezone(zone).date().isoformat()


def utc_day(instant: datetime) -> str:
    """The UTC calendar day of an instant (names the dedupe set an event_id goes in)."""
    return instant.astimezone(UTC).date().isoformat()
