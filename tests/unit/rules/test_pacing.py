"""Working time and pacing, across zones, holidays and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_stream.rules.pacing import elapsed_share, pace
from spm_stream.time.windows import period_containing
from spm_stream.time.worktime import (
    ALWAYS,
    WorkCalendar,
    add_working_time,
    next_working_instant,
    working_seconds,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_a_working_day_is_its_hours_in_the_zone() -> None:
    cal = WorkCalendar(BERLIN)  # Mon-Fri 09:00-17:00
    # Monday 2026-11-23, 08:00Z = 09:00 Berlin: a full day is 8 hours.
    assert (
        working_seconds(cal, at("2026-11-23T00:00:00+01:00"), at("2026-11-24T00:00:00+01:00"))
        == 8 * HOUR
    )
    # Friday 16:00 Berlin to Monday 10:00 Berlin: 1 hour on Friday + 1 on Monday.
    assert (
        working_seconds(cal, at("2026-11-27T16:00:00+01:00"), at("2026-11-30T10:00:00+01:00"))
        == 2 * HOUR
    )


def test_holidays_are_days_off() -> None:
    cal = WorkCalendar(BERLIN, holidays=frozenset({date(2026, 12, 25)}))
    # Thu 24 Dec 16:00 + 2 working hours skips Christmas Day (Fri) and the weekend.
    assert add_working_time(cal, at("2026-12-24T16:00:00+01:00"), 2 * HOUR) == at(
        "2026-12-28T10:00:00+01:00"
    )


def test_dst_moves_the_window_with_the_clock() -> None:
    cal = WorkCalendar(BERLIN, days=frozenset(range(7)))
    # Sunday 25 Oct 2026 Berlin leaves DST: 09:00 local is 08:00Z, the day before 07:00Z.
    assert next_working_instant(cal, at("2026-10-25T00:00:00+00:00")) == at(
        "2026-10-25T08:00:00+00:00"
    )
    assert next_working_instant(cal, at("2026-10-24T00:00:00+00:00")) == at(
        "2026-10-24T07:00:00+00:00"
    )
    # The 25-hour calendar day still has 8 working hours.
    day = period_containing("day", date(2026, 10, 25), BERLIN)
    assert working_seconds(cal, day.start, day.end) == 8 * HOUR


def test_new_york_spring_forward() -> None:
    cal = WorkCalendar(NEW_YORK, days=frozenset(range(7)))
    # 2026-03-08 clocks jump 02:00 -> 03:00; 09:00 EDT is 13:00Z (14:00Z the day before).
    assert next_working_instant(cal, at("2026-03-08T06:00:00+00:00")) == at(
        "2026-03-08T13:00:00+00:00"
    )
    assert next_working_instant(cal, at("2026-03-07T06:00:00+00:00")) == at(
        "2026-03-07T14:00:00+00:00"
    )


def test_the_next_working_instant_is_now_inside_working_hours() -> None:
    cal = WorkCalendar(SHANGHAI)
    monday_nine = at("2026-11-23T01:00:00+00:00")  # 09:00 Shanghai, Monday
    assert next_working_instant(cal, monday_nine) == monday_nine
    # 17:00 Shanghai: closed until Tuesday 09:00; Saturday: until Monday 09:00.
    assert next_working_instant(cal, at("2026-11-23T09:00:00+00:00")) == at(
        "2026-11-24T01:00:00+00:00"
    )
    assert next_working_instant(cal, at("2026-11-28T03:00:00+00:00")) == at(
        "2026-11-30T01:00:00+00:00"
    )
    saturday = at("2026-11-28T03:00:00+00:00")
    assert next_working_instant(ALWAYS, saturday) == saturday


def test_calendar_is_validated() -> None:
    with pytest.raises(ValueError, match="working days"):
        WorkCalendar(BERLIN, days=frozenset())
    with pytest.raises(ValueError, match="end after"):
        WorkCalendar(BERLIN, start=time(17), end=time(9))


def test_pace_of_the_docstring_example() -> None:
    cal = WorkCalendar(BERLIN)
    week = period_containing("week", date(2026, 11, 25), BERLIN)
    # Wednesday 13:00 Berlin: Mon + Tue + 4 h of 40 working hours = 50 %.
    now = at("2026-11-25T13:00:00+01:00")
    assert elapsed_share(cal, week, now) == pytest.approx(0.5)
    behind = pace("calls", 10, 50, week, now, cal)
    assert behind.expected == pytest.approx(25)
    assert behind.behind(0.8)
    assert behind.gap == pytest.approx(15)
    assert not pace("calls", 20, 50, week, now, cal).behind(0.8)


def test_a_period_without_working_time() -> None:
    cal = WorkCalendar(
        BERLIN, holidays=frozenset(date(2026, 12, 21) + timedelta(days=i) for i in range(5))
    )
    week = period_containing("week", date(2026, 12, 23), BERLIN)
    assert elapsed_share(cal, week, at("2026-12-23T12:00:00+01:00")) == 0.0
    assert elapsed_share(cal, week, week.end) == 1.0


ZONES = st.sampled_from([BERLIN, NEW_YORK, SHANGHAI, ZoneInfo("Australia/Sydney"), ZoneInfo("UTC")])
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
CALENDARS = st.builds(
    WorkCalendar,
    zone=ZONES,
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.sampled_from([time(0), time(7, 30), time(9)]),
    end=st.sampled_from([time(0), time(17), time(18, 15)]),
)


@given(CALENDARS, INSTANTS, st.floats(0, 200 * HOUR))
def test_adding_working_time_then_measuring_it_gives_it_back(
    cal: WorkCalendar, start: datetime, secs: float
) -> None:
    end = add_working_time(cal, start, secs)
    assert end >= start
    assert working_seconds(cal, start, end) == pytest.approx(secs, abs=1e-3)


@given(CALENDARS, INSTANTS, INSTANTS, INSTANTS)
def test_working_time_is_additive_and_bounded(
    cal: WorkCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    ab, bc = working_seconds(cal, a, b), working_seconds(cal, b, c)
    assert working_seconds(cal, a, c) == pytest.approx(ab + bc, abs=1e-3)
    assert 0 <= ab <= (b - a).total_seconds()


@given(CALENDARS, INSTANTS, st.integers(0, 400))
def test_elapsed_share_grows_with_time(cal: WorkCalendar, now: datetime, hours: int) -> None:
    week = period_containing("week", now.astimezone(cal.zone).date(), cal.zone)
    early = elapsed_share(cal, week, now)
    later = elapsed_share(cal, week, now + timedelta(hours=hours))
    assert 0 <= early <= later <= 1
