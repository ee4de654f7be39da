"""Boards for any metric: ranking, ties to the earlier achiever, qualification by volume."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_stream.ranking.leaderboards import check_metric, metric_value, neighbours, rank

D1, D2, D3 = "day:2026-11-23", "day:2026-11-24", "day:2026-11-25"


def days(*per_day: dict[str, int]) -> list[tuple[str, Counter[str]]]:
    return [(b, Counter(acc)) for b, acc in zip((D1, D2, D3), per_day, strict=False)]


def test_counts_rank_highest_first_and_ties_go_to_the_earlier_achiever() -> None:
    board = {
        "ben": days({"activity.call": 2}, {"activity.call": 3}, {}),  # 5, reached on D2
        "ana": days({"activity.call": 1}, {}, {"activity.call": 4}),  # 5, reached on D3
        "cat": days({"activity.call": 5}, {}, {}),  # 5, reached on D1
        "dan": days({"activity.call": 9}, {}, {}),
        "eve": days({"activity.email": 3}, {}, {}),  # no calls: does not qualify
    }
    rows = rank(board, "calls")
    assert [(r.rank, r.rep_id, r.value, r.reached) for r in rows] == [
        (1, "dan", 9.0, D1),
        (2, "cat", 5.0, D1),
        (3, "ben", 5.0, D2),
        (4, "ana", 5.0, D3),
    ]


def test_rates_need_the_minimum_volume_and_some_are_better_low() -> None:
    board = {
        "ana": days({"deal.won": 1}),  # 100 % of 1 decided deal
        "ben": days({"deal.won": 3, "deal.lost": 1}),  # 75 % of 4
        "cat": days({"meeting.held": 4, "meeting.no_show": 1}),
    }
    assert [r.rep_id for r in rank(board, "win_rate")] == ["ana", "ben"]
    assert [r.rep_id for r in rank(board, "win_rate", min_volume=2)] == ["ben"]
    no_shows = {
        "ana": days({"meeting.held": 1, "meeting.no_show": 1}),
        "cat": days({"meeting.held": 4, "meeting.no_show": 1}),
    }
    assert [(r.rep_id, r.value) for r in rank(no_shows, "no_show_rate")] == [
        ("cat", 20.0),
        ("ana", 50.0),
    ]


def test_revenue_is_per_currency() -> None:
    board = {
        "ana": days({"deal.won": 1, "won|EUR": 1, "rev|EUR": 5000 * 10_000}),
        "ben": days({"deal.won": 1, "won|USD": 1, "rev|USD": 9000 * 10_000}),
    }
    assert [(r.rep_id, r.value) for r in rank(board, "revenue:EUR")] == [("ana", 5000.0)]
    assert metric_value(Counter({"won|USD": 2, "rev|USD": 10_000}), "revenue:USD") == (1.0, 2)


def test_neighbours_and_unknown_metrics() -> None:
    rows = rank({f"r{i}": days({"activity.call": i}) for i in range(1, 6)}, "calls")
    assert [r.rep_id for r in neighbours(rows, "r3")] == ["r4", "r3", "r2"]
    assert [r.rep_id for r in neighbours(rows, "r5")] == ["r5", "r4"]
    assert neighbours(rows, "nobody") == []
    with pytest.raises(ValueError, match="unknown metric 'cals'"):
        check_metric("cals")
    assert check_metric("revenue:EUR") == "revenue:EUR"


ACCS = st.dictionaries(
    st.sampled_from(["activity.call", "deal.won", "deal.lost", "meeting.held"]),
    st.integers(0, 5),
    max_size=3,
)


@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.lists(ACCS, min_size=3, max_size=3))
)
def test_the_order_is_total_and_independent_of_dict_order(
    board: dict[str, list[dict[str, int]]],
) -> None:
    given_days = {rep: days(*accs) for rep, accs in board.items()}
    reversed_days = dict(reversed(list(given_days.items())))
    for metric in ("calls", "win_rate"):
        rows = rank(given_days, metric)
        assert rows == rank(reversed_days, metric)
        assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
        assert len({r.rep_id for r in rows}) == len(rows)


def test_passes_name_who_overtook_whom_in_the_top() -> None:
    def rows(*reps: str) -> list:
        return rank({r: days({"activity.call": 10 - i}) for i, r in enumerate(reps)}, "calls")

    from spm_stream.ranking.leaderboards import Pass, passes

    assert passes(["ben", "ana", "cat"], rows("ana", "ben", "cat"), top=3) == [
        Pass("ana", "ben", 1)
    ]
    # Cat jumps from 3rd to 1st: she took Ben's place.
    assert passes(["ben", "ana", "cat"], rows("cat", "ben", "ana"), top=3)[0] == Pass(
        "cat", "ben", 1
    )
    # Moves below the top are not celebrated; newcomers pass nobody.
    assert passes(["a", "b", "c", "d"], rows("a", "b", "d", "c"), top=2) == []
    assert passes(["ben"], rows("new", "ben"), top=3) == []
