"""The notification policy's pure stages: drop reasons, routing, delivery time, backoff."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from notifications.policy import (
    PERMANENT_ERRORS,
    Route,
    Silence,
    backoff,
    deliver_at,
    drop_reason,
    in_quiet_hours,
    route,
)
from spm_stream.rules.alerts import Alert, Recipient
from spm_stream.rules.config import NotifyPolicy, QuietHours
from spm_stream.time.worktime import WorkCalendar
from tests.people import EMEA

BERLIN = ZoneInfo("Europe/Berlin")
CAL = WorkCalendar(BERLIN)
WED_NOON = datetime(2026, 11, 25, 13, tzinfo=BERLIN)


def alert(rule: str = "nudge", raised: datetime = WED_NOON, subject: str = "rep-1") -> Alert:
    return Alert(rule, subject, "k", Recipient("person", subject), raised)


def test_drop_reasons_in_stage_order() -> None:
    policy = NotifyPolicy()
    now = WED_NOON
    assert (
        drop_reason(alert(raised=now - timedelta(days=3)), now, policy, [], False)[0] == "expired"
    )  # type: ignore[index]
    mute = Silence("s1", now + timedelta(hours=1), rule="behind_target*", subject="rep-1")
    assert drop_reason(alert("behind_target.resolved"), now, policy, [mute], True)[0] == "silenced"  # type: ignore[index]
    assert drop_reason(alert("nudge"), now, policy, [mute], True)[0] == "duplicate"  # type: ignore[index]
    assert drop_reason(alert("nudge"), now, policy, [mute], False) is None
    expired_silence = Silence("s2", now, rule="*")
    assert drop_reason(alert("nudge"), now, policy, [expired_silence], False) is None


def test_routing_uses_the_directory() -> None:
    r = route(alert(subject="rep-1"), EMEA)
    assert (r.channel, r.locale, r.calendar.zone.key, r.group) == (
        "U0ANA",
        "de",
        "Europe/Berlin",
        "person:rep-1",
    )
    assert route(alert(subject="rep-2"), EMEA).channel is None  # no slack_id: undeliverable
    assert route(alert(subject="mgr-1"), EMEA).calendar.zone.key == "Asia/Shanghai"


def test_quiet_and_working_hours_delay_delivery() -> None:
    policy = NotifyPolicy(quiet_hours=QuietHours(start=time(20), end=time(8)))
    to_rep = Route("rep-1", "U0ANA", "en", CAL)
    # Friday 18:00: outside working hours -> Monday 09:00.
    assert deliver_at(datetime(2026, 11, 27, 18, tzinfo=BERLIN), to_rep, policy) == datetime(
        2026, 11, 30, 9, tzinfo=BERLIN
    )
    # Working hours off: only quiet hours count; 21:00 -> 08:00 next morning.
    anytime = NotifyPolicy(working_hours_only=False)
    assert deliver_at(datetime(2026, 11, 27, 21, tzinfo=BERLIN), to_rep, anytime) == datetime(
        2026, 11, 28, 8, tzinfo=BERLIN
    )
    assert deliver_at(datetime(2026, 11, 27, 7, tzinfo=BERLIN), to_rep, anytime) == datetime(
        2026, 11, 27, 8, tzinfo=BERLIN
    )
    # Inside working hours and outside quiet hours: at once.
    assert deliver_at(WED_NOON, to_rep, policy) == WED_NOON
    # A 24/7 calendar with quiet hours 12-14 (not spanning midnight).
    always = Route(
        "rep-1", "U0ANA", "en", WorkCalendar(BERLIN, frozenset(range(7)), time(0), time(0))
    )
    lunch = NotifyPolicy(quiet_hours=QuietHours(start=time(12), end=time(14)))
    assert deliver_at(WED_NOON, always, lunch) == datetime(2026, 11, 25, 14, tzinfo=BERLIN)
    assert in_quiet_hours(datetime(2026, 11, 25, 11, tzinfo=BERLIN), CAL, lunch.quiet_hours) is None  # type: ignore[arg-type]


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff(30) == timedelta(minutes=10)


def test_a_silence_is_stored_and_read_back_whole() -> None:
    mute = Silence(
        "s1",
        WED_NOON + timedelta(hours=2),
        rule="no_show.*",
        subject="rep-1",
        comment="offsite",
        created_by="U0MGR",
        created_at=WED_NOON,
    )
    assert Silence.loads(mute.dumps()) == mute
    assert mute.matches(alert("no_show.rep"), WED_NOON)
    assert not mute.matches(alert("no_show.rep", subject="rep-2"), WED_NOON)
    assert not mute.matches(alert("nudge"), WED_NOON)
    assert not mute.matches(alert("no_show.rep"), WED_NOON + timedelta(hours=2))


def test_a_channel_recipient_follows_the_org_calendar_and_groups_apart() -> None:
    to_channel = Alert("badge.earned", "rep-1", "b", Recipient("channel", "#emea"), WED_NOON)
    r = route(to_channel, EMEA)
    assert (r.channel, r.person, r.group, r.calendar.zone.key) == (
        "#emea",
        False,
        "channel:#emea",
        "Europe/Berlin",
    )
    # Channels are not held to working hours: only quiet hours delay them.
    saturday = datetime(2026, 11, 28, 11, tzinfo=BERLIN)
    assert deliver_at(saturday, r, NotifyPolicy()) == saturday


def test_errors_that_no_retry_can_fix_are_permanent() -> None:
    assert {"channel_not_found", "invalid_blocks", "msg_too_long"} <= PERMANENT_ERRORS
    assert "ratelimited" not in PERMANENT_ERRORS
    assert "internal_error" not in PERMANENT_ERRORS
