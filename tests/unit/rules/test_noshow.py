"""The no-show watch: transitions per event and escalations timed on working hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from spm_stream.contract.events import Event, parse_event
from spm_stream.rules.config import NoShowRule
from spm_stream.rules.noshow import Watch, advance, fold, rebooked, transition, write
from spm_stream.time.worktime import WorkCalendar
from tests.events import event as build

BERLIN = WorkCalendar(ZoneInfo("Europe/Berlin"))  # Mon-Fri 09-17
RULE = NoShowRule()  # grace 2h, rep after 4 working hours, manager after 4 more


def event(etype: str, at: str, **data: object) -> Event:
    return parse_event(build(f"{etype}-{at}", etype, at=at, meeting_id="m-1", **data))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def manager_of(rep: str) -> str | None:
    return "mgr-1"


def test_a_no_show_escalates_to_rep_then_manager_on_working_hours() -> None:
    # Friday 15:00 Berlin: 2 working hours left on Friday, so the DM is due Monday 11:00.
    watch = transition(
        event("meeting.no_show", "2026-11-27T15:00:00+01:00"), RULE, lambda _: BERLIN
    )
    assert watch is not None
    assert watch.state == "no_show"
    assert not watch.inferred
    assert watch.due == t("2026-11-30T11:00:00+01:00")

    early, alerts = advance(watch, t("2026-11-30T10:59:00+01:00"), RULE, BERLIN, manager_of)
    assert early == watch
    assert alerts == []

    after_dm, alerts = advance(watch, t("2026-11-30T11:00:00+01:00"), RULE, BERLIN, manager_of)
    assert [a.rule for a in alerts] == ["no_show.rep"]
    assert alerts[0].recipient.id == "rep-1"
    assert alerts[0].raised_at == t("2026-11-30T11:00:00+01:00")
    assert after_dm is not None
    assert after_dm.stage == 1
    assert after_dm.due == t("2026-11-30T15:00:00+01:00")  # 4 more working hours

    done, alerts = advance(after_dm, t("2026-11-30T15:00:00+01:00"), RULE, BERLIN, manager_of)
    assert [(a.rule, a.recipient.id) for a in alerts] == [("no_show.manager", "mgr-1")]
    assert done is not None
    assert done.stage == 2
    # Kept (for the nudge's "to reschedule" list) until it expires, then dropped without alerts.
    gone, alerts = advance(done, done.due or t("2000-01-01T00:00:00Z"), RULE, BERLIN, manager_of)
    assert gone is None
    assert alerts == []


def test_a_late_tick_raises_every_step_due_at_once() -> None:
    watch = transition(
        event("meeting.no_show", "2026-11-23T09:00:00+01:00"), RULE, lambda _: BERLIN
    )
    assert watch is not None
    later, alerts = advance(watch, t("2026-11-24T12:00:00+01:00"), RULE, BERLIN, manager_of)
    assert [a.rule for a in alerts] == ["no_show.rep", "no_show.manager"]
    assert [a.raised_at for a in alerts] == [
        t("2026-11-23T13:00:00+01:00"),
        t("2026-11-23T17:00:00+01:00"),  # 4 more working hours end with the day
    ]
    assert later is not None
    assert later.stage == 2


def test_a_booking_without_held_becomes_an_inferred_no_show() -> None:
    booked = transition(
        event(
            "meeting.booked",
            "2026-11-20T10:00:00Z",
            scheduled_for="2026-11-23T10:00:00+01:00",
            lead_id="L-1",
        ),
        RULE,
        lambda _: BERLIN,
    )
    assert booked is not None
    assert booked.state == "booked"
    assert booked.lead_id == "L-1"
    assert booked.due == t("2026-11-23T12:00:00+01:00")  # scheduled + 2 h grace
    opened, alerts = advance(booked, t("2026-11-23T12:00:00+01:00"), RULE, BERLIN, manager_of)
    assert alerts == []
    assert opened is not None
    assert (opened.state, opened.inferred, opened.opened_at) == ("no_show", True, booked.due)
    assert opened.due == t("2026-11-23T16:00:00+01:00")


def test_inference_can_be_switched_off() -> None:
    rule = NoShowRule(infer=False)
    booked = transition(
        event("meeting.booked", "2026-11-20T10:00:00Z", scheduled_for="2026-11-23T10:00:00+01:00"),
        rule,
        lambda _: BERLIN,
    )
    assert booked is not None
    assert booked.state == "closed"
    assert booked.due is None


def test_held_canceled_and_rescheduled_close_the_watch() -> None:
    for etype, data, closed_by in [
        ("meeting.held", {}, "held"),
        ("meeting.canceled", {}, "canceled"),
    ]:
        watch = transition(event(etype, "2026-11-23T10:00:00Z", **data), RULE, lambda _: BERLIN)
        assert watch is not None
        assert (watch.state, watch.closed_by, watch.due) == (
            "closed",
            closed_by,
            None,
        )
    moved = transition(
        event(
            "meeting.rescheduled",
            "2026-11-23T10:00:00Z",
            scheduled_for="2026-11-25T10:00:00Z",
            initiated_by="prospect",
        ),
        RULE,
        lambda _: BERLIN,
    )
    # A reschedule ends the no-show and watches the new time like a booking.
    assert moved is not None
    assert moved.state == "booked"
    assert moved.closed_by == "rescheduled"
    assert moved.due == t("2026-11-25T12:00:00Z")


def test_other_events_are_not_watched() -> None:
    call = parse_event(
        '{"event_id":"c","type":"activity.call","occurred_at":"2026-11-23T10:00:00Z","rep_id":"r"}'
    )
    assert transition(call, RULE, lambda _: BERLIN) is None
    assert (
        transition(
            event("meeting.no_show", "2026-11-23T10:00:00Z"),
            NoShowRule(enabled=False),
            lambda _: BERLIN,
        )
        is None
    )


def test_no_manager_means_no_manager_alert() -> None:
    watch = transition(
        event("meeting.no_show", "2026-11-23T09:00:00+01:00"), RULE, lambda _: BERLIN
    )
    assert watch is not None
    _, alerts = advance(watch, t("2026-11-30T09:00:00+01:00"), RULE, BERLIN, lambda _: None)
    assert [a.rule for a in alerts] == ["no_show.rep"]


@given(
    st.sampled_from(["meeting.no_show", "meeting.booked", "meeting.held", "meeting.rescheduled"]),
    st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2027, 1, 1),
        timezones=st.just(ZoneInfo("UTC")),
    ),
)
def test_watches_survive_their_json_round_trip(etype: str, at: datetime) -> None:
    data = {}
    if etype in ("meeting.booked", "meeting.rescheduled"):
        data["scheduled_for"] = (at + timedelta(days=1)).isoformat()
    if etype == "meeting.rescheduled":
        data["initiated_by"] = "rep"
    watch = transition(event(etype, at.isoformat(), **data), RULE, lambda _: BERLIN)
    assert watch is not None
    # Milliseconds are the store's clock: compare at that precision.
    assert Watch.loads(watch.dumps()).dumps() == watch.dumps()


def _report(meeting: str, state: str, at: str, lead: str | None = None) -> Watch:
    return Watch(meeting, "rep-1", state, t(at), lead)  # type: ignore[arg-type]


def test_the_last_writer_wins_and_keeps_what_a_later_report_does_not_say() -> None:
    booked = _report("m-1", "booked", "2026-11-02T10:00+00:00", "L-1")._replace(lead_name="Acme")
    no_show = _report("m-1", "no_show", "2026-11-02T12:00+00:00")  # names no lead
    kept = write(booked, no_show)
    assert kept is not None
    assert (kept.state, kept.lead_id, kept.lead_name) == ("no_show", "L-1", "Acme")
    late_booking = _report("m-1", "booked", "2026-11-02T09:00+00:00", "L-1")
    assert write(kept, late_booking) is None  # older than what is stored: ignored


def test_a_rebooking_of_the_lead_closes_the_earlier_no_show_unless_it_is_newer() -> None:
    booked = _report("m-1", "booked", "2026-11-02T10:00+00:00", "L-1")
    no_show = _report("m-1", "no_show", "2026-11-02T12:00+00:00")
    rebooking = _report("m-2", "booked", "2026-11-02T13:00+00:00", "L-1")
    kept = fold([booked, no_show, rebooking])
    assert (kept["m-1"].state, kept["m-1"].closed_by) == ("closed", "rebooked")
    assert kept["m-1"].at == rebooking.at
    assert kept["m-1"].due is None
    assert kept["m-2"].state == "booked"
    earlier = _report("m-2", "booked", "2026-11-02T11:00+00:00", "L-1")
    assert fold([booked, no_show, earlier])["m-1"].state == "no_show"  # the no-show is newer
    other_lead = _report("m-2", "booked", "2026-11-02T13:00+00:00", "L-2")
    assert fold([booked, no_show, other_lead])["m-1"].state == "no_show"
    assert rebooked(booked, rebooking) is None  # only an open no-show is closed
