"""A rep's own numbers, as ``/spm me`` and their App Home show them; a manager's team.

One read of the store per view: today and this week against the rep's targets with
their pace, the rep's place on their team's board with the reps around it
(``privacy.around``), their streak and badges, and their open no-shows. Plain data
out (rendered by ``notifications.slackapp``), so every surface shows the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final

from spm_stream.config.directory import Directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import Targets
from spm_stream.metrics.table import COUNT_TARGETS
from spm_stream.ranking.gamification import streak
from spm_stream.ranking.leaderboards import Row
from spm_stream.ranking.privacy import own_rows, team_rows
from spm_stream.reports.query import BoardContext, BoardQuery, board_rows
from spm_stream.rules.evaluate import metric_actual, metric_paces
from spm_stream.rules.noshow import Watch
from spm_stream.store.port import StorePort
from spm_stream.time.windows import period_containing

__all__ = ["SHOWN_TODAY", "open_no_shows", "rep_dashboard", "team_dashboard"]

#: What "today" shows when the rep has no daily targets.
SHOWN_TODAY: Final = ("calls", "emails", "meetings_booked", "demos")
#: The most open no-shows a view lists (the rest are counted): a Home tab holds 100 blocks.
MAX_NO_SHOWS: Final = 10


def _row(row: Row, directory: Directory, me: str | None = None) -> dict[str, Any]:
    return {**row.as_json(), "name": directory.display_name(row.rep_id), "me": row.rep_id == me}


async def open_no_shows(store: StorePort, reps: Sequence[str]) -> dict[str, list[Watch]]:
    """The open (not closed, not yet escalated past) no-shows of these reps, oldest first."""
    wanted = set(reps)
    found: dict[str, list[Watch]] = {}
    for _, raw in await store.open_watches():
        watch = Watch.loads(raw)
        if watch.state == "no_show" and watch.rep_id in wanted:
            found.setdefault(watch.rep_id, []).append(watch)
    for watches in found.values():
        watches.sort(key=lambda w: w.opened_at or w.at)
    return found


async def rep_dashboard(
    store: StorePort,
    directory: Directory,
    targets: Targets,
    rep: str,
    now: datetime,
    *,
    metric: str = "calls",
) -> dict[str, Any]:
    """Today and this week against targets, the rep's place on the board of ``metric`` this
    week, streak, badges and open no-shows."""
    routing = Routing.from_directory(directory)
    cal = directory.calendar_of(rep)
    today = now.astimezone(cal.zone).date()
    team = directory.team_of(rep)
    week = period_containing("week", today, cal.zone)
    day_targets = targets.for_scope("rep", rep, "day", team=team)
    week_targets = targets.for_scope("rep", rep, "week", team=team)
    game = directory.gamification
    lookback = [today - timedelta(days=back) for back in range(game.lookback_days - 1, -1, -1)]
    history = await store.rep_history(rep, [f"day:{d}" for d in lookback])
    by_day = {date.fromisoformat(bucket.removeprefix("day:")): acc for bucket, acc in history}
    today_acc: Mapping[str, int] = by_day.get(today, {})
    week_acc: dict[str, int] = {}
    for day, acc in by_day.items():
        if week.first <= day <= week.last:
            for field, value in acc.items():
                week_acc[field] = week_acc.get(field, 0) + value
    shown = [m for m in COUNT_TARGETS if m in day_targets] or list(SHOWN_TODAY)
    scope, scope_id = ("team", team) if team else ("org", ORG)
    q = BoardQuery(scope, scope_id, metric, "week", today, points=game.points)
    _, rows = await board_rows(store, routing, q, BoardContext(directory, targets))
    badges = (await store.badges([rep]))[rep]
    watches = (await open_no_shows(store, [rep])).get(rep, [])
    return {
        "rep_id": rep,
        "name": directory.display_name(rep),
        "today": [
            {
                "metric": m,
                "actual": round(metric_actual(m, today_acc)),
                "target": day_targets.get(m),
            }
            for m in shown
        ],
        "week": [
            p.as_json()
            for p in metric_paces(week_acc, week_targets, [*COUNT_TARGETS, "quota"], week, now, cal)
        ],
        "board": {
            "metric": metric,
            "scope": scope,
            "scope_name": directory.scope_name(scope, scope_id),
            "ranked": len(rows),
            "rows": [_row(r, directory, rep) for r in own_rows(rows, rep, directory.privacy)],
        },
        "streak": streak(sorted(by_day.items()), game.streak, game.points, cal, today),
        "badges": [
            {
                "name": game.badges[b].name if b in game.badges else b,
                "emoji": game.badges[b].emoji if b in game.badges else ":medal:",
                "day": day,
            }
            for b, day in sorted(badges.items(), key=lambda item: item[1])
        ],
        "no_shows": [_no_show(w) for w in watches[:MAX_NO_SHOWS]],
        "more_no_shows": max(0, len(watches) - MAX_NO_SHOWS),
    }


def _no_show(watch: Watch) -> dict[str, Any]:
    return {
        "meeting_id": watch.meeting_id,
        "lead_name": watch.lead_name,
        "lead_id": watch.lead_id,
        "source": watch.source,
        "scheduled_for": watch.scheduled_for.isoformat() if watch.scheduled_for else None,
        "opened_at": watch.opened_at.isoformat() if watch.opened_at else None,
    }


async def team_dashboard(
    store: StorePort,
    directory: Directory,
    targets: Targets,
    manager: str,
    now: datetime,
    *,
    metric: str = "calls",
) -> dict[str, Any]:
    """A manager's reps on this week's board of ``metric``, with their open no-shows."""
    reps = directory.reports_of(manager)
    routing = Routing.from_directory(directory)
    today = now.astimezone(directory.zone_of(manager)).date()
    q = BoardQuery("org", ORG, metric, "week", today, points=directory.gamification.points)
    _, rows = await board_rows(store, routing, q, BoardContext(directory, targets))
    no_shows = await open_no_shows(store, reps)
    ranked = {r.rep_id for r in rows}
    return {
        "manager": manager,
        "name": directory.display_name(manager),
        "metric": metric,
        "rows": [_row(r, directory) for r in team_rows(rows, set(reps))],
        "unranked": [directory.display_name(r) for r in reps if r not in ranked],
        "no_shows": {
            directory.display_name(rep): len(watches) for rep, watches in no_shows.items()
        },
    }
