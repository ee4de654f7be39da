"""Contests: validation naming the field, standings for reps and teams, announcements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from spm_stream.cli import cli
from spm_stream.ranking.contests import Contest, announcements_due, contest_days, standings

START = datetime(2026, 11, 23, 9, tzinfo=UTC)
END = datetime(2026, 11, 28, 0, tzinfo=UTC)


def contest(**extra: object) -> Contest:
    fields: dict[str, object] = {
        "id": "blitz",
        "name": "Call blitz",
        "metric": "calls",
        "start": START,
        "end": END,
        "milestones": (50, 90),
    }
    return Contest.model_validate(fields | extra)


def test_bad_contests_name_the_field() -> None:
    with pytest.raises(ValidationError, match="end: must be after start"):
        contest(end=START)
    with pytest.raises(ValidationError, match="unknown metric 'cals'"):
        contest(metric="cals")
    with pytest.raises(ValidationError, match="milestones are percents"):
        contest(milestones=(150,))


def test_the_cli_refuses_a_contest_ending_before_it_starts() -> None:
    result = CliRunner().invoke(
        cli,
        ["contest", "create", "--id", "x", "--name", "X", "--metric", "calls",
         "--start", "2026-11-30", "--end", "2026-11-20"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "end: must be after start" in result.output


def test_days_standings_for_reps_and_teams() -> None:
    c = contest()
    assert contest_days(c, lambda t: t.date()) == [f"day:2026-11-{d}" for d in range(23, 28)]
    days = {
        "ana": [("day:2026-11-23", {"activity.call": 5})],
        "ben": [("day:2026-11-23", {"activity.call": 3}), ("day:2026-11-24", {"activity.call": 3})],
        "cat": [("day:2026-11-24", {"activity.call": 4})],
    }
    teams = {"ana": "t1", "ben": "t2", "cat": "t2"}
    assert [(r.rep_id, r.value) for r in standings(c, days, teams.get)] == [
        ("ben", 6.0),
        ("ana", 5.0),
        ("cat", 4.0),
    ]
    assert [(r.rep_id, r.value) for r in standings(contest(team="t2"), days, teams.get)] == [
        ("ben", 6.0),
        ("cat", 4.0),
    ]
    by_team = standings(contest(between="teams"), days, teams.get)
    assert [(r.rep_id, r.value) for r in by_team] == [("t2", 10.0), ("t1", 5.0)]


def test_announcements_start_milestone_end_once_each() -> None:
    c = contest()
    assert announcements_due(c, START - timedelta(hours=1), set()) == []
    assert announcements_due(c, START, set()) == ["start"]
    half = START + (END - START) / 2
    assert announcements_due(c, half, {"start"}) == ["milestone:50"]
    assert announcements_due(c, half, {"start", "milestone:50"}) == []
    # A worker down until the end posts the end only, not every stale milestone.
    assert announcements_due(c, END + timedelta(hours=5), {"start"}) == ["end"]
    assert announcements_due(c, END, {"start", "end"}) == []
