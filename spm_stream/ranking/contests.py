"""Contests: named, time-bound competitions on one metric, for reps or for teams (pure).

A contest is ranked with the same rules as the leaderboards (ties to the
earlier achiever) over its days; for teams, the members' day counters are
summed per team. Announcements are due at the start, at each milestone (a
share of the contest's time, e.g. 50 %) and at the end, with the winners.
Bad contests fail at the CLI with the field named
(``end: must be after start``, ``metric: unknown metric 'cals'``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from spm_stream.ranking.leaderboards import BoardMetric, Row, rank

__all__ = ["Contest", "announcements_due", "contest_days", "standings"]


class Contest(BaseModel):
    """One contest, as stored in Redis by `spm-stream contest create`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    metric: BoardMetric
    start: AwareDatetime
    end: AwareDatetime
    between: Literal["reps", "teams"] = "reps"
    team: str | None = Field(default=None, description="Only this team's reps (reps contests).")
    prize: str = ""
    channel: str | None = Field(default=None, pattern=r"^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{2,})$")
    milestones: tuple[int, ...] = Field(default=(50,), description="Percent of the time elapsed.")
    top: int = Field(default=3, ge=1, le=50)

    @field_validator("milestones")
    @classmethod
    def _milestones(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 < m < 100 for m in value):
            raise ValueError("milestones are percents between 0 and 100 (exclusive)")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _window(self) -> Contest:
        if self.end <= self.start:
            raise ValueError("end: must be after start")
        if self.between == "teams" and self.team is not None:
            raise ValueError("team: only a contest between reps can be limited to one team")
        return self

    def status(self, now: datetime) -> str:
        """upcoming, running or ended."""
        return "upcoming" if now < self.start else "running" if now < self.end else "ended"


def contest_days(contest: Contest, zone_of_day: Callable[[datetime], date]) -> list[str]:
    """The day buckets the contest spans, first to last (local days of ``zone_of_day``)."""
    first, last = zone_of_day(contest.start), zone_of_day(contest.end - timedelta(microseconds=1))
    return [f"day:{first + timedelta(days=i)}" for i in range((last - first).days + 1)]


def standings(
    contest: Contest,
    days: Mapping[str, Sequence[tuple[str, Mapping[str, int]]]],
    team_of: Callable[[str], str | None],
    points_of: Callable[[str, Mapping[str, int]], float] | None = None,
) -> list[Row]:
    """The ranking of a contest's reps (or teams, members summed per day)."""
    if contest.between == "reps":
        entrants = {rep: d for rep, d in days.items() if contest.team in (None, team_of(rep))}
        return rank(entrants, contest.metric, 1, points_of)
    teams: dict[str, dict[str, Counter[str]]] = {}
    for rep, rep_days in days.items():
        team = team_of(rep)
        if team is None:
            continue
        per_day = teams.setdefault(team, {})
        for bucket, acc in rep_days:
            per_day.setdefault(bucket, Counter()).update(acc)
    summed = {team: sorted(per_day.items()) for team, per_day in teams.items()}
    return rank(summed, contest.metric, 1, points_of)


def announcements_due(contest: Contest, now: datetime, done: set[str]) -> list[str]:
    """Announcements due at ``now`` and not yet made: "start", "milestone:50", "end".

    Only the latest due milestone is made when several are due at once (a worker
    that was down does not post a burst of stale standings).
    """
    if now < contest.start:
        return []
    due: list[str] = []
    if "start" not in done and now < contest.end:
        due.append("start")
    elapsed = (min(now, contest.end) - contest.start) / (contest.end - contest.start) * 100
    reached = [m for m in contest.milestones if m <= elapsed]
    if reached and now < contest.end and f"milestone:{reached[-1]}" not in done:
        due.append(f"milestone:{reached[-1]}")
    if now >= contest.end and "end" not in done:
        due.append("end")
    return due
