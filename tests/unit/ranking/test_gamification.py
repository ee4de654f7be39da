"""Points, streaks and badges from day accumulators; badge rules parse or fail by key."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from spm_stream.config.directory import Directory
from spm_stream.ranking.gamification import (
    BadgeRule,
    Gamification,
    Multiplier,
    Points,
    StreakRule,
    earned_badges,
    parse_condition,
    points_of_day,
    streak,
    streaks,
)
from spm_stream.ranking.leaderboards import rank
from spm_stream.time.worktime import WorkCalendar

CAL = WorkCalendar(ZoneInfo("Europe/Berlin"))  # Mon-Fri
MON = date(2026, 11, 16)


def test_points_with_multipliers_and_a_daily_cap() -> None:
    rules = Points(
        per_event={"activity.call": 1, "activity.demo": 5},
        multipliers=(Multiplier(type="activity.demo", factor=2, start=MON, end=MON),),
        daily_cap=30,
    )
    assert points_of_day(MON, {"activity.call": 4, "activity.demo": 2}, rules) == 24
    assert (
        points_of_day(MON + timedelta(days=1), {"activity.call": 4, "activity.demo": 2}, rules)
        == 14
    )
    assert points_of_day(MON, {"activity.call": 100}, rules) == 30


def test_streak_counts_working_days_and_skips_the_weekend() -> None:
    rule = StreakRule(metric="calls", daily_target=5)
    hit = {"activity.call": 5}
    # Thu, Fri, (weekend), Mon hit; today Tuesday not yet: the streak is 3 and still alive.
    days = [(MON - timedelta(days=4), hit), (MON - timedelta(days=3), hit), (MON, hit)]
    tue = MON + timedelta(days=1)
    assert streak(days, rule, Points(), CAL, tue) == 3
    assert streak([*days, (tue, hit)], rule, Points(), CAL, tue) == 4
    # Missing a working day (Wednesday) ends it.
    assert streak(days, rule, Points(), CAL, tue + timedelta(days=1)) == 0


@given(
    st.dictionaries(
        st.integers(min_value=0, max_value=40).map(lambda n: MON + timedelta(days=n)),
        st.integers(min_value=0, max_value=9).map(lambda n: {"activity.call": n}),
        max_size=30,
    ),
    st.sets(st.integers(min_value=0, max_value=40).map(lambda n: MON + timedelta(days=n))),
)
def test_streaks_in_one_pass_equal_the_streak_of_each_day(
    by_day: dict[date, dict[str, int]], holidays: set[date]
) -> None:
    rule = StreakRule(metric="calls", daily_target=5)
    cal = WorkCalendar(zone=CAL.zone, holidays=frozenset(holidays))
    ordered = sorted(by_day.items())
    assert streaks(ordered, rule, Points(), cal) == [
        streak(ordered[: i + 1], rule, Points(), cal, day) for i, (day, _) in enumerate(ordered)
    ]


def test_badges_are_earned_on_the_first_day_their_rule_held() -> None:
    config = Gamification(
        badges={
            "first_deal": BadgeRule(name="First deal", when="deals_won >= 1 over all"),
            "ten_calls": BadgeRule(name="10-call day", when="calls >= 10 over day"),
            "streak3": BadgeRule(name="3-day streak", when="streak >= 3"),
            "week30": BadgeRule(name="30 calls in a week", when="calls >= 30 over week"),
        },
        streak=StreakRule(metric="calls", daily_target=8),
    )
    days = [
        (MON, {"activity.call": 8}),
        (MON + timedelta(days=1), {"activity.call": 12}),
        (MON + timedelta(days=2), {"activity.call": 9, "deal.won": 1}),
        (MON + timedelta(days=3), {"activity.call": 2}),
    ]
    earned = earned_badges(days, config.badges, config, CAL)
    assert earned == {
        "ten_calls": MON + timedelta(days=1),
        "first_deal": MON + timedelta(days=2),
        "streak3": MON + timedelta(days=2),
        "week30": MON + timedelta(days=3),
    }


def test_badge_rules_that_do_not_parse_name_the_key() -> None:
    with pytest.raises(ValidationError, match=r"gamification\.badges\.x\.when"):
        Directory.model_validate(
            {"gamification": {"badges": {"x": {"name": "X", "when": "calls are many"}}}}
        )
    with pytest.raises(ValidationError, match="unknown metric 'cals'"):
        Directory.model_validate(
            {"gamification": {"badges": {"x": {"name": "X", "when": "cals >= 1"}}}}
        )
    with pytest.raises(ValidationError, match="unknown event type"):
        Directory.model_validate(
            {"gamification": {"points": {"per_event": {"activity.teleport": 1}}}}
        )
    assert parse_condition("revenue:EUR >= 10000 over month").window == "month"
    assert parse_condition("streak >= 5").metric == "streak"


def test_points_rank_on_boards() -> None:
    rules = Points(per_event={"activity.call": 1, "deal.won": 50}, daily_cap=None)

    def points_of(bucket: str, acc: dict[str, int]) -> float:
        return points_of_day(date.fromisoformat(bucket[4:]), acc, rules)

    board = {
        "ana": [("day:2026-11-16", {"activity.call": 30})],
        "ben": [("day:2026-11-16", {"deal.won": 1})],
    }
    rows = rank(board, "points", points_of=points_of)
    assert [(r.rep_id, r.value) for r in rows] == [("ben", 50.0), ("ana", 30.0)]


@given(st.lists(st.integers(0, 15), min_size=1, max_size=30))
def test_badges_do_not_depend_on_the_order_days_arrive(calls: list[int]) -> None:
    config = Gamification()
    days = [(MON + timedelta(days=i), {"activity.call": n}) for i, n in enumerate(calls)]
    forward = earned_badges(days, config.badges, config, CAL)
    assert earned_badges(list(reversed(days)), config.badges, config, CAL) == forward


def test_quota_reached_badge_uses_the_reps_quota() -> None:
    config = Gamification(
        badges={"q": BadgeRule(name="Quota reached", when="quota >= 100 over month")}
    )
    won = {"deal.won": 1, "won|EUR": 1, "rev|EUR": 6000 * 10_000}
    days = [(MON, won), (MON + timedelta(days=1), won)]
    quota = {"month": {"EUR": 10_000.0}}
    assert earned_badges(days, config.badges, config, CAL, quota) == {"q": MON + timedelta(days=1)}
    assert earned_badges(days, config.badges, config, CAL) == {}  # no quota, no badge
    with pytest.raises(ValueError, match="quota needs a window"):
        parse_condition("quota >= 100")
