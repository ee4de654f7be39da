"""Health endpoints of the worker's web server (Faust web, aiohttp).

``/health`` answers 200 when Redis answers and the worker is running, 503
otherwise; ``/stats`` shows what this worker consumed and the store's totals.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from agents.app import Runtime

__all__ = ["register"]


def register(app: faust.App, rt: Runtime) -> None:
    """Add /health and /stats to the worker's web server."""

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            try:
                redis_ok = await rt.store.ping()
            except (RedisError, OSError):
                redis_ok = False
            body: dict[str, Any] = {"status": "ok" if redis_ok else "degraded", "redis": redis_ok}
            return self.json(body, status=200 if redis_ok else 503)

    @app.page("/stats")
    class StatsView(View):
        async def get(self, request: Request) -> Response:
            stats = await rt.store.stats()
            return self.json(
                {
                    "worker": {
                        "consumed": rt.consumed,
                        "rejected": rt.rejected,
                        "redis_retries": rt.redis_retries,
                    },
                    "store": {
                        "counted": stats.counted,
                        "duplicates": stats.duplicates,
                        "rejected": stats.rejected,
                        "processed": stats.processed,
                    },
                }
            )
