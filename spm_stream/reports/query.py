"""Live KPI queries: the same report objects as `spm-stream report`, answered from Redis."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import Targets
from spm_stream.ranking.contests import Contest, contest_days, standings
from spm_stream.ranking.gamification import Points, points_by_bucket
from spm_stream.ranking.leaderboards import Row, neighbours, rank
from spm_stream.reports.report import scope_report
from spm_stream.store.port import StorePort
from spm_stream.time.windows import Period, period_containing

__all__ = ["BoardQuery", "board_rows", "contest_standings", "live_board", "live_report"]


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


async def board_rows(store: StorePort, routing: Routing, q: BoardQuery) -> tuple[Period, list[Row]]:
    """The board's period and its rows, ranked by ``leaderboards.rank``: every board
    (Slack, TV, CLI, HTTP) is ranked here."""
    period = period_containing(q.kind, q.at, routing.zone_of(q.scope, q.scope_id))
    days = await store.rep_days(q.scope, q.scope_id, period.buckets())
    points_of = points_by_bucket(q.points or Points())
    return period, rank(days, q.metric, q.min_volume, points_of)


async def live_board(
    store: StorePort,
    routing: Routing,
    q: BoardQuery,
    *,
    top: int | None = None,
    rep: str | None = None,
) -> dict[str, Any]:
    """A board as plain data for the CLI and HTTP: the ``top`` rows; ``rep`` adds that rep's
    row with the rows just above and below it."""
    period, rows = await board_rows(store, routing, q)
    body: dict[str, Any] = {
        "scope": q.scope,
        "id": q.scope_id,
        "metric": q.metric,
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
