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
