"""Who sees which ranks: the top in channels, the rest only privately."""

from __future__ import annotations

from spm_stream.ranking.leaderboards import Row
from spm_stream.ranking.privacy import Privacy, moved_up, own_rows, shared_rows, team_rows

ROWS = [Row(i + 1, f"rep-{i + 1}", float(100 - i), 1, "day:2026-11-23") for i in range(8)]


def test_a_channel_shows_the_top_and_those_below_who_moved_up() -> None:
    privacy = Privacy(top=3)
    before = ["rep-1", "rep-2", "rep-3", "rep-4", "rep-5", "rep-7", "rep-6", "rep-8"]
    moved = moved_up(before, ROWS)
    assert moved == {"rep-6"}
    assert [r.rep_id for r in shared_rows(ROWS, privacy, moved)] == [
        "rep-1",
        "rep-2",
        "rep-3",
        "rep-6",
    ]
    quiet = Privacy(top=3, movers=False)
    assert [r.rank for r in shared_rows(ROWS, quiet, moved)] == [1, 2, 3]


def test_a_rep_sees_their_own_place_with_two_above_and_below() -> None:
    assert [r.rank for r in own_rows(ROWS, "rep-6", Privacy())] == [4, 5, 6, 7, 8]
    assert [r.rank for r in own_rows(ROWS, "rep-1", Privacy(around=1))] == [1, 2]
    assert own_rows(ROWS, "nobody", Privacy()) == []


def test_a_manager_sees_their_whole_team_with_board_ranks() -> None:
    assert [r.rank for r in team_rows(ROWS, {"rep-2", "rep-8"})] == [2, 8]
