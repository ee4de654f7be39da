"""Day buckets follow the zone, including across DST changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from spm_stream.windows import day_bucket, utc_day


@pytest.mark.parametrize(
    ("instant", "zone", "day"),
    [
        ("2026-11-02T23:30:00+00:00", "UTC", "day:2026-11-02"),
        ("2026-11-02T23:30:00+00:00", "Europe/Berlin", "day:2026-11-03"),
        ("2026-11-02T03:00:00+00:00", "America/Los_Angeles", "day:2026-11-01"),
        ("2026-11-02T16:30:00+00:00", "Asia/Shanghai", "day:2026-11-03"),
        # Berlin leaves DST at 01:00 UTC on 25 Oct 2026: 22:30 UTC the day before is 00:30 local.
        ("2026-10-24T22:30:00+00:00", "Europe/Berlin", "day:2026-10-25"),
        ("2026-10-25T22:30:00+00:00", "Europe/Berlin", "day:2026-10-25"),
        ("2026-03-28T23:30:00+00:00", "Europe/Berlin", "day:2026-03-29"),
    ],
)
def test_day_bucket(instant: str, zone: str, day: str) -> None:
    assert day_bucket(datetime.fromisoformat(instant), ZoneInfo(zone)) == day


def test_utc_day_ignores_the_offset_of_the_input() -> None:
    assert utc_day(datetime.fromisoformat("2026-11-03T00:30:00+01:00")) == "2026-11-02"


from datetime import date  # noqa: E402

from spm_stream.windows import PERIOD_KINDS, period_containing  # noqa: E402


@pytest.mark.parametrize(
    ("kind", "at", "first", "last"),
    [
        ("day", "2026-11-02", "2026-11-02", "2026-11-02"),
        ("week", "2026-11-02", "2026-11-02", "2026-11-08"),  # a Monday
        ("week", "2026-11-08", "2026-11-02", "2026-11-08"),  # a Sunday
        ("week", "2027-01-01", "2026-12-28", "2027-01-03"),  # ISO week across the year end
        ("month", "2026-02-14", "2026-02-01", "2026-02-28"),
        ("month", "2028-02-14", "2028-02-01", "2028-02-29"),
        ("month", "2026-12-31", "2026-12-01", "2026-12-31"),
        ("quarter", "2026-11-02", "2026-10-01", "2026-12-31"),
        ("quarter", "2026-01-01", "2026-01-01", "2026-03-31"),
        ("year", "2026-11-02", "2026-01-01", "2026-12-31"),
        ("rolling_7", "2026-11-02", "2026-10-27", "2026-11-02"),
        ("rolling_30", "2026-11-02", "2026-10-04", "2026-11-02"),
        ("rolling_90", "2026-11-02", "2026-08-05", "2026-11-02"),
    ],
)
def test_period_containing(kind: str, at: str, first: str, last: str) -> None:
    period = period_containing(kind, date.fromisoformat(at), ZoneInfo("UTC"))
    assert (period.first.isoformat(), period.last.isoformat()) == (first, last)
    assert len(period.buckets()) == (period.last - period.first).days + 1


def test_period_boundaries_follow_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    october = period_containing("month", date(2026, 10, 10), berlin)
    # Starts in summer time, ends in winter time: 31 days of 24 h plus the extra hour.
    assert october.start.isoformat() == "2026-10-01T00:00:00+02:00"
    assert october.end.isoformat() == "2026-11-01T00:00:00+01:00"
    elapsed = october.end.astimezone(ZoneInfo("UTC")) - october.start.astimezone(ZoneInfo("UTC"))
    assert elapsed.total_seconds() == 31 * 86_400 + 3600
    assert october.contains(datetime.fromisoformat("2026-10-31T23:30:00+00:00")) is False
    assert october.contains(datetime.fromisoformat("2026-10-31T22:30:00+00:00")) is True


def test_unknown_period_names_the_choices() -> None:
    with pytest.raises(ValueError, match="rolling_30"):
        period_containing("fortnight", date(2026, 1, 1), ZoneInfo("UTC"))
    assert "quarter" in PERIOD_KINDS
