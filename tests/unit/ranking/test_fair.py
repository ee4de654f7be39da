"""Fair boards: attainment against each rep's own (prorated) target, scorecards, improvement."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from spm_stream.ranking.fair import (
    RepFacts,
    Scorecard,
    attainment,
    attainment_of,
    improvement_of,
    prorated,
    rank_by_of,
    score_of,
    target_of,
)
from spm_stream.ranking.leaderboards import rank_by
from spm_stream.time.windows import period_containing
from spm_stream.time.worktime import WorkCalendar

BERLIN = ZoneInfo("Europe/Berlin")
CAL = WorkCalendar(BERLIN)  # Mon-Fri 09-17
WEEK = period_containing("week", date(2026, 11, 25), BERLIN)  # Mon 23 - Sun 29 Nov


def facts(
    targets: Mapping[str, Mapping[str, float]],
    hired: Mapping[str, int] | None = None,
    cards: Mapping[str, Scorecard] | None = None,
) -> RepFacts:
    return RepFacts(
        target=lambda rep, metric: targets.get(rep, {}).get(metric),
        hired=hired or {},
        calendar_of=lambda rep: CAL,
        scorecard_of=lambda rep: (cards or {}).get(rep),
    )


def days(**calls: int) -> dict[str, list[tuple[str, dict[str, int]]]]:
    return {rep: [("day:2026-11-23", {"activity.call": n})] for rep, n in calls.items()}


def test_attainment_ranks_each_rep_against_their_own_target() -> None:
    # Ana makes more calls, but Ben's territory has half the target: Ben is ahead.
    known = facts({"ana": {"calls": 100}, "ben": {"calls": 40}})
    rows = rank_by(days(ana=60, ben=30), attainment_of("calls", known, WEEK))
    assert [(r.rep_id, r.value) for r in rows] == [("ben", 75.0), ("ana", 60.0)]


def test_a_rep_without_a_target_is_not_ranked_by_attainment() -> None:
    rows = rank_by(
        days(ana=60, ben=30), attainment_of("calls", facts({"ana": {"calls": 100}}), WEEK)
    )
    assert [r.rep_id for r in rows] == ["ana"]


def test_a_new_rep_gets_the_share_of_the_period_from_the_hire_on() -> None:
    # Hired Wednesday 09:00: 3 of the week's 5 working days are left.
    wednesday = datetime(2026, 11, 25, 9, tzinfo=BERLIN)
    assert prorated(50, wednesday, WEEK, CAL) == pytest.approx(30)
    assert prorated(50, datetime(2026, 11, 1, tzinfo=BERLIN), WEEK, CAL) == 50  # before it
    assert prorated(50, None, WEEK, CAL) == 50
    new = facts({"new": {"calls": 50}}, hired={"new": int(wednesday.timestamp())})
    (row,) = rank_by(days(new=24), attainment_of("calls", new, WEEK))
    assert row.value == pytest.approx(80.0)  # 24 of 30, not 24 of 50


@given(hire_day=st.integers(0, 6), hour=st.integers(0, 23))
def test_a_prorated_target_never_exceeds_the_full_one(hire_day: int, hour: int) -> None:
    hired = datetime(2026, 11, 23 + hire_day, hour, tzinfo=BERLIN)
    assert 0 <= prorated(40, hired, WEEK, CAL) <= 40


def test_a_loss_is_attained_by_staying_under_its_target() -> None:
    assert attainment(10.0, 20.0, "no_show_rate") == 200.0
    assert attainment(0.0, 20.0, "no_show_rate") is None
    assert attainment(30.0, 20.0, "calls") == 150.0


def test_a_scorecard_weighs_metrics_against_their_targets() -> None:
    card = Scorecard(weights={"calls": 1, "meetings_booked": 3})
    known = facts(
        {"ana": {"calls": 100, "meetings_booked": 10}, "ben": {"calls": 100}},
        cards={"ana": card, "ben": card},
    )
    acc = {
        "ana": [("day:2026-11-23", {"activity.call": 100, "meeting.booked": 5})],
        "ben": [("day:2026-11-23", {"activity.call": 120})],
    }
    rows = {r.rep_id: r.value for r in rank_by(acc, score_of(known, WEEK))}
    assert rows["ana"] == pytest.approx((1 * 100 + 3 * 50) / 4)  # 62.5
    assert rows["ben"] == pytest.approx(120.0)  # no meetings target: calls alone count


def test_a_scorecard_names_only_metrics_that_take_a_target() -> None:
    with pytest.raises(ValidationError, match="'deals_won' takes no target"):
        Scorecard(weights={"deals_won": 1})
    with pytest.raises(ValidationError):
        Scorecard(weights={"calls": 0})


def test_most_improved_compares_with_the_previous_period() -> None:
    rows = rank_by(days(ana=60, ben=30, new=5), improvement_of("calls", {"ana": 55, "ben": 10}))
    assert [(r.rep_id, r.value) for r in rows] == [("ben", 20.0), ("ana", 5.0), ("new", 5.0)]
    # A loss improves as it falls.
    acc = {"ana": [("day:2026-11-23", {"meeting.held": 9, "meeting.no_show": 1})]}
    (row,) = rank_by(acc, improvement_of("no_show_rate", {"ana": 30.0}))
    assert row.value == pytest.approx(20.0)


def test_targets_are_read_for_revenue_from_the_quota() -> None:
    resolved = {"quota": {"EUR": 10000}, "calls": 50}
    assert target_of(resolved, "revenue:EUR") == 10000
    assert target_of(resolved, "revenue:USD") is None
    assert target_of(resolved, "calls") == 50


def test_rank_by_names_its_choices() -> None:
    assert rank_by_of("attainment") == "attainment"
    with pytest.raises(ValueError, match="expected one of value, attainment, improvement"):
        rank_by_of("fairness")
