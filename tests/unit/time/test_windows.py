"""Day buckets follow the zone, including across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_stream.time.windows import day_bucket, day_span, utc_day

#: Zones with DST changes at or across midnight (Santiago, Beirut, Havana, Sao Paulo
#: until 2019), the day Samoa skipped (30 Dec 2011), half-hour offsets, and plain ones.
ODD_ZONES = (
    "America/Santiago",
    "Asia/Beirut",
    "America/Havana",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "UTC",
)


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

from spm_stream.time.windows import PERIOD_KINDS, period_containing  # noqa: E402


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
    assert "day:2026-10-31" in october.buckets()
    assert october.end == datetime.fromisoformat("2026-10-31T23:00:00+00:00")  # CET again


def test_unknown_period_names_the_choices() -> None:
    with pytest.raises(ValueError, match="rolling_30"):
        period_containing("fortnight", date(2026, 1, 1), ZoneInfo("UTC"))
    assert "quarter" in PERIOD_KINDS


#: Noon UTC on days around which the odd zones change their clocks.
_CHANGES = [
    datetime.fromisoformat(f"{day}T12:00Z")
    for day in ("2026-09-06", "2026-03-28", "2026-11-01", "2018-11-04", "2011-12-30")
]


@given(
    st.one_of(
        st.datetimes(datetime(2010, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)),
        st.builds(
            lambda noon, s: noon + timedelta(seconds=s),
            st.sampled_from(_CHANGES),
            st.integers(-2 * 86_400, 2 * 86_400),
        ),
    ),
    st.sampled_from(ODD_ZONES),
    st.floats(0, 1, exclude_max=True),
)
def test_every_instant_of_a_day_span_is_on_that_day(
    instant: datetime, zone_name: str, where: float
) -> None:
    zone = ZoneInfo(zone_name)
    span = day_span(instant, zone)
    if span is None:
        return
    start, end = span
    day = instant.astimezone(zone).date()
    assert start <= instant < end
    last = end - timedelta(microseconds=1)
    inside = min(start + (end - start) * where, last)  # the product rounds to a microsecond
    for at in (start, inside, last):
        assert at.astimezone(zone).date() == day
    assert end.astimezone(zone).date() == day + timedelta(days=1)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("America/Santiago", "2026-09-05"),  # midnight of the 6th is skipped (00:00 -> 01:00)
        ("America/Santiago", "2026-09-06"),
        ("America/Havana", "2026-10-31"),  # 00:00-01:00 of 1 Nov happens twice
        ("Pacific/Apia", "2011-12-29"),  # followed by no 30 December at all
    ],
)
def test_a_day_with_a_skipped_or_repeated_midnight_has_no_span(zone: str, day: str) -> None:
    noon = datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=ZoneInfo(zone))
    assert day_span(noon, ZoneInfo(zone)) is None


def test_a_dst_change_inside_a_day_keeps_its_span() -> None:
    """Berlin's 25 Oct 2026 has 25 hours, from 22:00 UTC on the 24th to 23:00 UTC."""
    span = day_span(datetime(2026, 10, 25, 12, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
    assert span == (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
