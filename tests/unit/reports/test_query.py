"""Board queries on the in-memory store: value, attainment, scorecards and improvement."""

from __future__ import annotations

from datetime import date

import pytest

from spm_stream.config.directory import Directory
from spm_stream.config.scopes import Routing
from spm_stream.config.targets import Targets
from spm_stream.reports.query import BoardContext, BoardQuery, board_rows
from spm_stream.store.memory import MemoryStore

PEOPLE = Directory.model_validate(
    {
        "timezone": "Europe/Berlin",
        "teams": {"t1": {"name": "One"}},
        "people": {
            "ana": {"team": "t1", "role": "ae"},
            "ben": {"team": "t1", "role": "sdr"},
        },
        "scorecards": {"sdr": {"weights": {"calls": 1}}, "ae": {"weights": {"demos": 1}}},
    }
)
TARGETS = Targets.model_validate(
    {
        "defaults": {"calls": {"week": 100}, "demos": {"week": 4}},
        "reps": {"ben": {"calls": {"week": 40}}},
    }
)
MONDAY = date(2026, 11, 23)


def store() -> MemoryStore:
    memory = MemoryStore()
    memory.count("ana", "day:2026-11-16", {"activity.call": 20}, team="t1")  # last week
    memory.count("ben", "day:2026-11-16", {"activity.call": 28}, team="t1")
    memory.count("ana", "day:2026-11-23", {"activity.call": 60, "activity.demo": 1}, team="t1")
    memory.count("ben", "day:2026-11-24", {"activity.call": 30}, team="t1")
    return memory


async def ranked(q: BoardQuery, ctx: BoardContext | None = None) -> list[tuple[str, float]]:
    _, rows = await board_rows(store(), Routing.from_directory(PEOPLE), q, ctx)
    return [(r.rep_id, round(r.value, 1)) for r in rows]


async def test_every_way_of_ranking_one_team() -> None:
    ctx = BoardContext(PEOPLE, TARGETS)
    week = BoardQuery("team", "t1", "calls", "week", MONDAY)
    assert await ranked(week) == [("ana", 60.0), ("ben", 30.0)]
    fair = BoardQuery("team", "t1", "calls", "week", MONDAY, rank_by="attainment")
    assert await ranked(fair, ctx) == [("ben", 75.0), ("ana", 60.0)]
    improved = BoardQuery("team", "t1", "calls", "week", MONDAY, rank_by="improvement")
    assert await ranked(improved, ctx) == [("ana", 40.0), ("ben", 2.0)]
    score = BoardQuery("team", "t1", "score", "week", MONDAY)
    assert await ranked(score, ctx) == [("ben", 75.0), ("ana", 25.0)]  # ana: 1 of 4 demos


async def test_a_fair_board_without_targets_or_a_wrong_combination_is_refused() -> None:
    fair = BoardQuery("team", "t1", "calls", "week", MONDAY, rank_by="attainment")
    with pytest.raises(ValueError, match="needs the people and targets files"):
        await ranked(fair)
    with pytest.raises(ValueError, match="rank_by attainment: 'deals_won' takes no target"):
        await ranked(BoardQuery("team", "t1", "deals_won", "week", MONDAY, rank_by="attainment"))
    with pytest.raises(ValueError, match="metric score: already a share of targets"):
        await ranked(BoardQuery("team", "t1", "score", "week", MONDAY, rank_by="attainment"))
