"""Live KPI queries: the same report objects as `spm-stream report`, answered from Redis."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from spm_stream.config.directory import Directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import Targets
from spm_stream.ranking.contests import Contest, contest_days, standings
from spm_stream.ranking.fair import (
    RankBy,
    RepFacts,
    Scorecard,
    attainment_of,
    check_ranking,
    improvement_of,
    score_of,
    target_of,
)
from spm_stream.ranking.gamification import Points, points_by_bucket
from spm_stream.ranking.leaderboards import (
    Row,
    check_metric,
    metric_value,
    neighbours,
    rank,
    rank_by,
)
from spm_stream.reports.report import scope_report
from spm_stream.store.port import StorePort
from spm_stream.time.windows import Period, period_containing

__all__ = [
    "BoardContext",
    "BoardQuery",
    "board_rows",
    "contest_standings",
    "live_board",
    "live_report",
    "rep_facts",
]


async def live_report(
    store: StorePort,
    *,
    routing: Routing,
    targets: Targets,
    scope: str,
    scope_id: str,
    kind: str,
    at: date,
) -> dict[str, Any]:
    """One scope's KPIs for the period of ``kind`` containing local day ``at``."""
    period = period_containing(kind, at, routing.zone_of(scope, scope_id))
    acc = await store.accumulate(scope, scope_id, period.buckets())
    hired, first_win = await store.ramp_facts()
    members = await store.members(scope_id) if scope == "team" else set()  # saves a round trip
    return scope_report(
        scope,
        scope_id,
        period,
        acc,
        hired=hired,
        first_win=first_win,
        members=members,
        targets=targets,
        routing=routing,
    )


@dataclass(frozen=True, slots=True)
class BoardQuery:
    """Which board: a team's or the org's, one metric, the period of ``kind`` containing
    local day ``at``; rates qualify a rep from ``min_volume``; ``points`` scores days."""

    scope: str
    scope_id: str
    metric: str
    kind: str
    at: date
    min_volume: int = 1
    points: Points | None = None
    rank_by: RankBy = "value"

    def check(self) -> BoardQuery:
        """The query if it can be ranked; else ValueError naming the field."""
        check_metric(self.metric)
        check_ranking(self.metric, self.rank_by)
        return self


@dataclass(frozen=True, slots=True)
class BoardContext:
    """What fair boards need beyond counts: the people (teams, roles, calendars,
    scorecards) and the targets."""

    directory: Directory
    targets: Targets


async def board_rows(
    store: StorePort, routing: Routing, q: BoardQuery, ctx: BoardContext | None = None
) -> tuple[Period, list[Row]]:
    """The board's period and its rows: every board (Slack, TV, CLI, HTTP) is ranked here,
    by value (``leaderboards.rank``) or fairly (``ranking.fair``, which needs ``ctx``)."""
    q.check()
    period = period_containing(q.kind, q.at, routing.zone_of(q.scope, q.scope_id))
    days = await store.rep_days(q.scope, q.scope_id, period.buckets())
    if q.rank_by == "value" and q.metric != "score":
        points_of = points_by_bucket(q.points or Points())
        return period, rank(days, q.metric, q.min_volume, points_of)
    if ctx is None:
        raise ValueError(f"{q.metric} by {q.rank_by}: needs the people and targets files")
    if q.rank_by == "improvement":
        before = period_containing(q.kind, period.first - timedelta(days=1), period.zone)
        earlier = await store.rep_days(q.scope, q.scope_id, before.buckets())
        previous = {rep: _total(rep_days, q.metric) for rep, rep_days in earlier.items()}
        found = {rep: v for rep, v in previous.items() if v is not None}
        return period, rank_by(days, improvement_of(q.metric, found), q.min_volume)
    hired, _ = await store.ramp_facts()
    facts = rep_facts(ctx, hired, q.kind)
    if q.metric == "score":
        return period, rank_by(days, score_of(facts, period), q.min_volume)
    return period, rank_by(days, attainment_of(q.metric, facts, period), q.min_volume)


def rep_facts(ctx: BoardContext, hired: Mapping[str, int], kind: str) -> RepFacts:
    """Each rep's targets of the period kind, hire date, calendar and role scorecard."""
    directory, targets = ctx.directory, ctx.targets
    resolved: dict[str, dict[str, Any]] = {}

    def target(rep: str, metric: str) -> float | None:
        if rep not in resolved:
            resolved[rep] = targets.for_scope("rep", rep, kind, team=directory.team_of(rep))
        return target_of(resolved[rep], metric)

    def scorecard_of(rep: str) -> Scorecard | None:
        person = directory.people.get(rep)
        role = person.role if person is not None and person.role else "default"
        return directory.scorecards.get(role) or directory.scorecards.get("default")

    return RepFacts(target, hired, directory.calendar_of, scorecard_of)


def _total(rep_days: Sequence[tuple[str, Mapping[str, int]]], metric: str) -> float | None:
    running: Counter[str] = Counter()
    for _, acc in rep_days:
        running.update(acc)
    return metric_value(running, metric)[0]


async def live_board(
    store: StorePort,
    routing: Routing,
    q: BoardQuery,
    *,
    top: int | None = None,
    rep: str | None = None,
    ctx: BoardContext | None = None,
) -> dict[str, Any]:
    """A board as plain data for the CLI and HTTP: the ``top`` rows; ``rep`` adds that rep's
    row with the rows just above and below it."""
    period, rows = await board_rows(store, routing, q, ctx)
    body: dict[str, Any] = {
        "scope": q.scope,
        "id": q.scope_id,
        "metric": q.metric,
        "rank_by": q.rank_by,
        "period": period.as_json(),
        "min_volume": q.min_volume,
        "ranked": len(rows),
        "rows": [r.as_json() for r in rows[:top]],
    }
    if rep is not None:
        body["rep"] = {"rep_id": rep, "around": [r.as_json() for r in neighbours(rows, rep)]}
    return body


async def contest_standings(
    store: StorePort, contest: Contest, *, routing: Routing, points: Points | None = None
) -> list[Row]:
    """A contest's standings now, from the counters of its days."""
    buckets = contest_days(contest, lambda t: t.astimezone(routing.zone).date())
    days = await store.rep_days("org", ORG, buckets)
    points_of = points_by_bucket(points or Points())
    return standings(contest, days, lambda rep: routing.team_of.get(rep), points_of)
