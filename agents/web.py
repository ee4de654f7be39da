"""The worker's HTTP endpoints (Faust web, aiohttp).

``/health`` answers 200 when Redis answers and keeps what it acknowledges (no
failed AOF write or snapshot, no eviction policy) and Slack takes the bot token,
503 otherwise. Behind ``agents.guard`` (the API token): ``/stats`` shows what
this worker consumed and the store's totals; ``/kpis?scope=&id=&period=&at=``
returns the same JSON object as `spm-stream kpis --format json`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import faust
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from agents.runtime import Runtime
from notifications.interactions import handle_interaction
from notifications.notifier import Notifier
from spm_stream.config.scopes import ORG
from spm_stream.contract.events import EARLIEST, LATEST
from spm_stream.ranking.leaderboards import check_metric
from spm_stream.reports.query import BoardQuery, live_board, live_report
from spm_stream.reports.report import SCOPE_KINDS
from spm_stream.time.windows import PERIOD_KINDS

__all__ = ["register"]


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


def register(app: faust.App, rt: Runtime, notifier: Notifier) -> None:
    """Add /health, /stats, /kpis and Slack's /slack/interactions to the worker's web server."""

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
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
            return self.json(body, status=200 if healthy else 503)

    @app.page("/stats")
    class StatsView(View):
        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request)) is not None:
                return refused
            try:
                stats = await rt.store.stats()
                pending = await notifier.outbox.pending()
            except (RedisError, OSError):
                return self.json({"error": "Redis does not answer; see /health"}, status=503)
            return self.json(
                {
                    "worker": {
                        "consumed": rt.consumed,
                        "rejected": rt.rejected,
                        "redis_retries": rt.redis_retries,
                        "alerts_raised": rt.alerts_raised,
                        "notifications_sent": rt.notifications_sent,
                        "webhook_events": rt.webhook_events,
                        "webhook_rejects": rt.webhook_rejects,
                    },
                    "outbox": {"pending_groups": pending},
                    "store": {
                        "counted": stats.counted,
                        "duplicates": stats.duplicates,
                        "rejected": stats.rejected,
                        "processed": stats.processed,
                    },
                }
            )

    @app.page("/kpis")
    class KpisView(View):
        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request)) is not None:
                return refused
            query = request.query
            scope = query.get("scope", "")
            if scope not in SCOPE_KINDS:
                return self.error(400, f"scope: expected one of {', '.join(SCOPE_KINDS)}")
            scope_id = ORG if scope == "org" else query.get("id", "")
            if not scope_id:
                return self.error(400, "id: required for scope rep and team")
            kind = query.get("period", "month")
            if kind not in PERIOD_KINDS:
                return self.error(400, f"period: expected one of {', '.join(PERIOD_KINDS)}")
            try:
                at = _day(query.get("at")) or rt.routing.today(scope, scope_id)
            except ValueError as exc:
                return self.error(400, str(exc))
            body = await live_report(
                rt.store,
                routing=rt.routing,
                targets=rt.targets.current(),
                scope=scope,
                scope_id=scope_id,
                kind=kind,
                at=at,
            )
            return self.json(body)

    @app.page("/leaderboard")
    class LeaderboardView(View):
        """GET /leaderboard?scope=team&id=t1&metric=calls&period=week&at=&top=&rep=&min_volume="""

        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request)) is not None:
                return refused
            q = request.query
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
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            points = rt.directory.gamification.points
            board = BoardQuery(scope, scope_id, metric, kind, at, max(1, min_volume), points)
            body = await live_board(rt.store, rt.routing, board, top=max(1, top), rep=q.get("rep"))
            return self.json(body)

    secret = rt.settings.slack_signing_secret

    @app.page("/slack/interactions")
    class Interactions(View):
        """Slack's interactivity request URL: the nudge's "snooze 1 day" button."""

        async def post(self, request: Request) -> Response:
            if secret is None:
                return self.json({"error": "SPM_SLACK_SIGNING_SECRET is not set"}, status=404)
            body = await request.read()
            status, answer = await handle_interaction(
                body,
                dict(request.headers),
                secret.get_secret_value(),
                notifier.state,
                rt.directory,
                datetime.now(UTC),
            )
            return self.json(answer, status=status)
