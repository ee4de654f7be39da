"""The Slack app's pure parts: what `/spm` asks, when a Home tab is republished."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from notifications.commands import parse
from notifications.home import MIN_INTERVAL_S, digest, due
from notifications.notifier import delivery_id


def test_spm_text_is_a_verb_and_a_boards_words_in_any_order() -> None:
    assert parse("").verb == "me"
    assert parse("  ME ").verb == "me"
    assert parse("help").verb == "help"
    assert parse("team").verb == "team"
    board = parse("board month deals_won")
    assert (board.verb, board.metric, board.period, board.rank_by) == (
        "board",
        "deals_won",
        "month",
        "value",
    )
    fair = parse("board calls week attainment")
    assert (fair.metric, fair.rank_by) == ("calls", "attainment")
    assert parse("board revenue:eur").metric == "revenue:EUR"
    bad = parse("board calz")
    assert bad.error is not None
    assert "unknown metric 'calz'" in bad.error
    assert parse("dance").verb == "unknown"


@given(st.text(max_size=80))
def test_any_text_parses_to_an_answerable_command(text: str) -> None:
    assert parse(text).verb in ("me", "board", "team", "help", "unknown")


def test_a_home_view_is_published_when_it_changed_and_a_minute_passed() -> None:
    assert due(None, None, "a", 0.0) == "publish"
    assert due(100.0, "a", "a", 1000.0) == "unchanged"
    assert due(100.0, "a", "b", 100.0 + MIN_INTERVAL_S - 1) == "wait"
    assert due(100.0, "a", "b", 100.0 + MIN_INTERVAL_S) == "publish"


@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=50))
def test_no_view_is_published_twice_within_a_minute(gaps: list[float]) -> None:
    now, last_at, published = 0.0, None, []
    for i, gap in enumerate(gaps):
        now += gap
        if due(last_at, None, str(i), now) == "publish":
            published.append(now)
            last_at = now
    assert all(b - a >= MIN_INTERVAL_S for a, b in pairwise(published))


def test_a_views_digest_follows_its_data_not_its_key_order() -> None:
    assert digest({"a": 1, "b": [2]}) == digest({"b": [2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})


def test_a_delivery_is_named_by_its_group_and_alerts_whatever_their_order() -> None:
    assert delivery_id("person:rep-1", ["x", "y"]) == delivery_id("person:rep-1", ["y", "x"])
    assert delivery_id("person:rep-1", ["x"]) != delivery_id("person:rep-2", ["x"])
