"""One outcome per meeting, offline: the strongest reported outcome counts, in any order."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from spm_stream.config.scopes import Routing
from spm_stream.contract.events import parse_event
from spm_stream.counting.outcomes import beats, outcome_of
from spm_stream.reports.report import fold
from tests.events import event

ROUTING = Routing(ZoneInfo("UTC"), {})
DAY = "day:2026-11-02"


def _outcome(i: int, etype: str, meeting: str, at: str = "2026-11-02T10:00:00Z") -> bytes:
    return event(f"o{i}", etype, at=at, meeting_id=meeting)


def _day(lines: list[bytes]) -> dict[str, int]:
    counts = fold(lines, ROUTING).days[("rep", "rep-1", DAY)]
    return {k: v for k, v in counts.items() if k.startswith("meeting.") and v}


def test_a_no_show_after_completed_replaces_the_held() -> None:
    held_then_no_show = [_outcome(1, "meeting.held", "m1"), _outcome(2, "meeting.no_show", "m1")]
    assert _day(held_then_no_show) == {"meeting.no_show": 1}
    assert _day(held_then_no_show[::-1]) == {"meeting.no_show": 1}


def test_each_meeting_counts_once_whatever_is_reported_again() -> None:
    lines = [
        _outcome(1, "meeting.held", "m1"),
        _outcome(2, "meeting.held", "m1"),  # the CRM reports "completed" again
        _outcome(3, "meeting.held", "m2"),
        _outcome(4, "meeting.canceled", "m3"),
        _outcome(5, "meeting.held", "m3"),  # weaker than the cancellation
    ]
    assert _day(lines) == {"meeting.held": 2, "meeting.canceled": 1}


def test_a_replaced_outcome_is_taken_back_on_the_day_it_was_counted() -> None:
    lines = [
        _outcome(1, "meeting.held", "m1", at="2026-11-02T10:00:00Z"),
        _outcome(2, "meeting.no_show", "m1", at="2026-11-03T10:00:00Z"),
    ]
    days = fold(lines, ROUTING).days
    assert days[("rep", "rep-1", DAY)]["meeting.held"] == 0
    assert days[("rep", "rep-1", "day:2026-11-03")]["meeting.no_show"] == 1


def test_which_report_counts() -> None:
    def of(i: int, etype: str, at: str = "2026-11-02T10:00:00Z") -> Any:
        found = outcome_of(parse_event(_outcome(i, etype, "m", at)))
        assert found is not None
        return found

    no_show, held = of(1, "meeting.no_show"), of(2, "meeting.held")
    assert beats(no_show, None)
    assert beats(no_show, held)
    assert not beats(held, no_show)
    assert not beats(no_show, no_show)
    earlier = of(3, "meeting.held", at="2026-11-02T09:00:00Z")
    assert beats(earlier, held)  # equal strength: the earliest counts
    assert beats(of(0, "meeting.held"), held)  # then the smaller event id
    assert outcome_of(parse_event(event("c", "activity.call"))) is None


_TYPES = st.sampled_from(["meeting.held", "meeting.no_show", "meeting.canceled", "activity.call"])


@given(
    reports=st.lists(st.tuples(_TYPES, st.integers(0, 4), st.integers(2, 4)), max_size=30),
    order=st.randoms(use_true_random=False),
)
def test_any_order_of_reports_folds_to_the_same_counts(reports: list, order: object) -> None:
    lines = [
        _outcome(i, etype, f"m{m}", at=f"2026-11-0{day}T10:00:00Z")
        for i, (etype, m, day) in enumerate(reports)
    ]
    shuffled = list(lines)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = fold(lines, ROUTING), fold(shuffled, ROUTING)
    assert {k: +v for k, v in a.days.items()} == {k: +v for k, v in b.days.items()}
    # Every meeting counts exactly once, as its strongest outcome.
    meetings = {m for etype, m, _ in reports if etype != "activity.call"}
    org = sum(
        v
        for (kind, _, _), counts in a.days.items()
        if kind == "org"
        for k, v in counts.items()
        if k.startswith("meeting.")
    )
    assert org == len(meetings)
