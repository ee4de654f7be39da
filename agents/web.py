"""The worker's HTTP endpoints (Faust web, aiohttp).

``/health`` answers 200 when Redis answers and keeps what it acknowledges (no
failed AOF write or snapshot, no eviction policy) and Slack takes the bot token,
503 otherwise. Behind ``agents.guard`` (the API token): ``/stats`` shows what
this worker consumed and the store's totals; ``/kpis?scope=&id=&period=&at=``
returns the same JSON object as `spm-stream kpis --format json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import faust
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from agents.runtime import Runtime
from notifications.notifier import Notifier
from spm_stream.config.scopes import ORG
from spm_stream.contract.events import EARLIEST, LATEST
from spm_stream.ranking.fair import rank_by_of
from spm_stream.ranking.leaderboards import check_metric
from spm_stream.reports.query import BoardContext, BoardQuery, live_board, live_report
from spm_stream.reports.report import SCOPE_KINDS
from spm_stream.time.windows import PERIOD_KINDS

__all__ = ["Answer", "health", "kpis", "leaderboard", "register", "stats"]


def _day(value: str | None) -> date | None:
    """The ``at`` of a query: a day of the contract's range (a period around 9999-12-31
    would overflow the calendar), None when not given."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not EARLIEST.date() <= day < LATEST.date():
        raise ValueError(f"at: expected a date YYYY-MM-DD from {EARLIEST.date()} to 2099-12-31")
    return day


#: A handler's answer: HTTP status and JSON body.
Answer = tuple[int, dict[str, Any]]


async def health(rt: Runtime, notifier: Notifier) -> Answer:
    """200 when Redis answers and keeps what it acknowledges and Slack takes the token."""
    problems: list[str] = []
    try:
        redis_ok = await rt.store.ping()
        problems = await rt.store.durability_problems()
    except (RedisError, OSError):
        redis_ok = False
    healthy = redis_ok and not problems and notifier.slack_error is None
    body: dict[str, Any] = {
        "status": "ok" if healthy else "degraded",
        "redis": redis_ok,
        "redis_problems": problems,
        "slack_error": notifier.slack_error,
    }
    return (200 if healthy else 503), body


async def stats(rt: Runtime, notifier: Notifier) -> Answer:
    """What this worker did, the outbox's backlog and the store's totals."""
    try:
        totals = await rt.store.stats()
        pending = await notifier.outbox.pending()
    except (RedisError, OSError):
        return 503, {"error": "Redis does not answer; see /health"}
    return 200, {
        "worker": {
            "consumed": rt.consumed,
            "rejected": rt.rejected,
            "redis_retries": rt.redis_retries,
            "alerts_raised": rt.alerts_raised,
            "notifications_sent": rt.notifications_sent,
            "webhook_events": rt.webhook_events,
            "webhook_rejects": rt.webhook_rejects,
            "caught_up": rt.caught_up,
        },
        "outbox": {"pending_groups": pending},
        "store": {
            "counted": totals.counted,
            "duplicates": totals.duplicates,
            "rejected": totals.rejected,
            "processed": totals.processed,
        },
    }


async def kpis(rt: Runtime, query: Mapping[str, str]) -> Answer:
    """GET /kpis?scope=&id=&period=&at=: the object of `spm-stream kpis --format json`."""
    scope = query.get("scope", "")
    if scope not in SCOPE_KINDS:
        return 400, {"error": f"scope: expected one of {', '.join(SCOPE_KINDS)}"}
    scope_id = ORG if scope == "org" else query.get("id", "")
    if not scope_id:
        return 400, {"error": "id: required for scope rep and team"}
    kind = query.get("period", "month")
    if kind not in PERIOD_KINDS:
        return 400, {"error": f"period: expected one of {', '.join(PERIOD_KINDS)}"}
    try:
        at = _day(query.get("at")) or rt.routing.today(scope, scope_id)
    except ValueError as exc:
        return 400, {"error": str(exc)}
    targets = rt.targets.current()
    report = await live_report(
        rt.store, routing=rt.routing, targets=targets, scope=scope, scope_id=scope_id,
        kind=kind, at=at,
    )  # fmt: skip
    return 200, report


async def leaderboard(rt: Runtime, q: Mapping[str, str]) -> Answer:
    """GET /leaderboard?scope=team&id=t1&metric=calls&period=week&at=&top=&rep=&min_volume=
    &rank_by=value|attainment|improvement (metric=score: the scorecards)."""
    scope = q.get("scope", "team")
    try:
        if scope not in ("team", "org"):
            raise ValueError("scope: expected team or org")
        scope_id = q.get("id") if scope == "team" else ORG
        if not scope_id:
            raise ValueError("id: required for scope=team")
        kind = q.get("period", "day")
        if kind not in PERIOD_KINDS:
            raise ValueError(f"period: expected one of {', '.join(PERIOD_KINDS)}")
        metric = check_metric(q.get("metric", "calls"))
        at = _day(q.get("at")) or rt.routing.today(scope, scope_id)
        top, min_volume = int(q.get("top", "10")), int(q.get("min_volume", "1"))
        points = rt.directory.gamification.points
        how = rank_by_of(q.get("rank_by", "value"))
        board = BoardQuery(scope, scope_id, metric, kind, at, max(1, min_volume), points, how)
        board.check()
    except ValueError as exc:
        return 400, {"error": str(exc)}
    ctx = BoardContext(rt.directory, rt.targets.current())
    body = await live_board(rt.store, rt.routing, board, top=max(1, top), rep=q.get("rep"), ctx=ctx)
    return 200, body


def register(app: faust.App, rt: Runtime, notifier: Notifier) -> None:
    """Add /health, /stats, /kpis and /leaderboard (Slack's request URLs: agents.slack)."""

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            status, body = await health(rt, notifier)
            return self.json(body, status=status)

    @app.page("/stats")
    class Stats(View):
        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request)) is not None:
                return refused
            status, body = await stats(rt, notifier)
            return self.json(body, status=status)

    @app.page("/kpis")
    class Kpis(View):
        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request)) is not None:
                return refused
            status, body = await kpis(rt, request.query)
            return self.json(body, status=status)

    @app.page("/leaderboard")
    class Leaderboard(View):
        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request)) is not None:
                return refused
            status, body = await leaderboard(rt, request.query)
            return self.json(body, status=status)
