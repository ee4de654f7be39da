"""Rule evaluation (pace, nudges, digests, event alerts) and the notification policy."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from spm_stream.config.directory import Directory
from spm_stream.contract.events import parse_event
from spm_stream.rules.config import AlertRules, PaceRule, parse_duration
from spm_stream.rules.evaluate import (
    RepDay,
    digest_alert,
    event_alerts,
    is_due_today,
    nudge_alert,
    pace_alerts,
    rep_paces,
    yesterday_of,
)
from spm_stream.rules.noshow import Watch
from spm_stream.time.windows import period_containing
from spm_stream.time.worktime import WorkCalendar
from tests.people import EMEA

BERLIN = ZoneInfo("Europe/Berlin")
CAL = WorkCalendar(BERLIN)
WEEK = period_containing("week", date(2026, 11, 25), BERLIN)
WED_NOON = datetime(2026, 11, 25, 13, tzinfo=BERLIN)  # half of the working week elapsed
RULE = PaceRule()


def test_pace_fires_once_then_resolves() -> None:
    acc = {"activity.call": 10}
    paces = rep_paces(acc, {"calls": 50}, RULE, WEEK, WED_NOON, CAL)
    alerts, firing = pace_alerts("rep-1", paces, RULE, WEEK, WED_NOON, set())
    assert [(a.rule, a.key) for a in alerts] == [("behind_target", "calls@week:2026-11-23")]
    assert alerts[0].data["expected"] == 25
    assert alerts[0].data["gap"] == 15
    # Still behind on the next evaluation: nothing new.
    again, firing = pace_alerts("rep-1", paces, RULE, WEEK, WED_NOON, firing)
    assert again == []
    assert firing == {"rep-1|calls|week:2026-11-23"}
    caught_up = rep_paces({"activity.call": 30}, {"calls": 50}, RULE, WEEK, WED_NOON, CAL)
    resolved, firing = pace_alerts("rep-1", caught_up, RULE, WEEK, WED_NOON, firing)
    assert [a.rule for a in resolved] == ["behind_target.resolved"]
    assert firing == set()


def test_no_pace_alert_early_in_the_period_or_without_a_target() -> None:
    monday_morning = datetime(2026, 11, 23, 10, tzinfo=BERLIN)  # 1/40 of the week
    paces = rep_paces({}, {"calls": 50}, RULE, WEEK, monday_morning, CAL)
    assert pace_alerts("rep-1", paces, RULE, WEEK, monday_morning, set())[0] == []
    assert rep_paces({}, {}, RULE, WEEK, WED_NOON, CAL) == []


def test_quota_is_paced_per_currency() -> None:
    acc = {"rev|EUR": 1000 * 10_000, "rev|USD": 9000 * 10_000}
    paces = rep_paces(acc, {"quota": {"EUR": 10000, "USD": 10000}}, RULE, WEEK, WED_NOON, CAL)
    behind = {p.metric for p in paces if p.behind(RULE.threshold)}
    assert behind == {"quota|EUR"}


def test_nudge_lists_todays_actions() -> None:
    paces = rep_paces({"activity.call": 10}, {"calls": 50}, RULE, WEEK, WED_NOON, CAL)
    watch = Watch("m-1", "rep-1", "no_show", WED_NOON, opened_at=WED_NOON)
    day = RepDay("rep-1", "Ana", {"activity.call": 4}, paces, [watch], {"activity.call": 10})
    alert = nudge_alert(day, date(2026, 11, 25), RULE, WED_NOON)
    assert alert.identity == "nudge/rep-1/2026-11-25"
    assert alert.data["actions"] == [
        {"kind": "reschedule", "count": 1},
        {"kind": "catch_up", "metric": "calls", "count": 15, "unit": "count"},
    ]
    assert alert.data["yesterday"]["calls"] == 4


def test_counts_are_whole_numbers_and_a_gap_rounds_up() -> None:
    """Nobody makes 14.6 calls: expected rounds, the gap rounds up (doing it is enough);
    rates keep one decimal."""
    from spm_stream.rules.pacing import Pace

    calls = Pace("calls", 10, 50, 24.6, 0.49).as_json()
    assert (calls["expected"], calls["gap"], calls["unit"]) == (25, 15, "count")
    assert Pace("calls", 30, 50, 24.6, 0.49).as_json()["gap"] == 0
    reach = Pace("reach_rate", 34.4828, 40, 40, 1.0).as_json()
    assert (reach["actual"], reach["gap"], reach["unit"]) == (34.5, 5.5, "percent")


def test_digest_names_reps_at_risk_and_top_performers() -> None:
    behind = rep_paces({"activity.call": 5}, {"calls": 50}, RULE, WEEK, WED_NOON, CAL)
    ahead = rep_paces({"activity.call": 40}, {"calls": 50}, RULE, WEEK, WED_NOON, CAL)
    team = [
        RepDay("rep-1", "Ana", {}, behind, [], {"activity.call": 5}),
        RepDay("rep-2", "Ben", {}, ahead, [], {"activity.call": 40, "deal.won": 1}),
    ]
    alert = digest_alert("mgr-1", date(2026, 11, 25), team, RULE, 3, WED_NOON)
    assert [r["rep_id"] for r in alert.data["at_risk"]] == ["rep-1"]
    assert [r["rep_id"] for r in alert.data["top"]] == ["rep-2", "rep-1"]
    assert alert.data["team_pace"] == [
        {
            "metric": "calls",
            "unit": "count",
            "actual": 45.0,
            "expected": 50,
            "target": 100.0,
            "share": 0.5,
            "gap": 5,
        }
    ]


def test_event_alerts() -> None:
    moved = parse_event(
        json.dumps(
            {
                "event_id": "e1",
                "type": "meeting.rescheduled",
                "occurred_at": "2026-11-23T10:00:00Z",
                "rep_id": "rep-1",
                "data": {
                    "meeting_id": "m-1",
                    "scheduled_for": "2026-11-24T10:00:00Z",
                    "initiated_by": "rep",
                },
            }
        )
    )
    rules = EMEA.alerts
    alerts = event_alerts(moved, rules, EMEA.manager_of)
    assert [(a.rule, a.recipient.id) for a in alerts] == [("reschedule.by_rep", "mgr-1")]
    by_prospect = moved.model_copy(
        update={"data": moved.data.model_copy(update={"initiated_by": "prospect"})}
    )
    assert event_alerts(by_prospect, rules, EMEA.manager_of) == []
    won = parse_event(
        '{"event_id":"w","type":"deal.won","occurred_at":"2026-11-23T10:00:00Z","rep_id":"rep-1",'
        '"data":{"deal_id":"d","amount":60000,"currency":"EUR","product":"p"}}'
    )
    assert [a.rule for a in event_alerts(won, rules, EMEA.manager_of)] == ["deal.big"]
    small = won.model_copy(update={"data": won.data.model_copy(update={"amount": 10})})
    assert event_alerts(small, rules, EMEA.manager_of) == []


def test_daily_schedule_follows_the_working_calendar() -> None:
    assert is_due_today(CAL, time(9), datetime(2026, 11, 23, 8, 59, tzinfo=BERLIN)) is None
    assert is_due_today(CAL, time(9), datetime(2026, 11, 23, 9, tzinfo=BERLIN)) == date(
        2026, 11, 23
    )
    assert is_due_today(CAL, time(9), datetime(2026, 11, 28, 10, tzinfo=BERLIN)) is None  # Saturday
    assert yesterday_of(date(2026, 11, 23), CAL) == date(2026, 11, 20)  # Monday's yesterday: Friday


# -- notification policy ------------------------------------------------------------------


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError, match=r"alerts\.no_show\.rep_after"):
        Directory.model_validate({"alerts": {"no_show": {"rep_after": "soon"}}})
    with pytest.raises(ValidationError, match="unknown metric 'cals'"):
        Directory.model_validate({"alerts": {"behind_target": {"metrics": ["cals"]}}})
    with pytest.raises(ValidationError, match=r"calendar\.start"):
        Directory.model_validate({"calendar": {"start": "9am"}})
    with pytest.raises(ValidationError, match="quiet_hours"):
        AlertRules.model_validate({"notify": {"quiet_hours": {"start": "25:00"}}})
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1.5h") == timedelta(minutes=90)
