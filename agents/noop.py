"""A Faust agent that iterates the stream and does nothing: the benchmark's reference point.

It batches exactly like the counters agent (``take_batches``, acking each batch) and records in
Redis when its first batch arrived and when it had seen the expected count, so
the benchmark can compare the full pipeline with Faust's own cost per event.
"""

from __future__ import annotations

import time
from typing import Any

import faust
from redis.asyncio import Redis

from agents.app import new_faust_app
from agents.faust_compat import ack_all, take_batches
from agents.runtime import declare_topics
from spm_stream.config.settings import Settings

__all__ = ["create_noop_app", "noop_key"]


def noop_key(settings: Settings) -> str:
    """HASH first_at|first_batch|done_at|count written by the noop agent."""
    return f"{settings.redis_prefix}:bench:noop"


def create_noop_app(settings: Settings, expected: int) -> faust.App:
    """A Faust app whose only agent counts events and timestamps the first and last."""
    app = new_faust_app(settings, web_enabled=False)
    source = declare_topics(app, settings).source
    redis = Redis.from_url(settings.require_redis(), decode_responses=True)
    key = noop_key(settings)
    within = settings.batch_window_ms / 1000

    @app.agent(source, name="noop")
    async def noop(stream: Any) -> None:
        seen, done = 0, False
        async for events in take_batches(stream, settings.batch_size, within):
            if seen == 0:
                await redis.hset(key, mapping={"first_at": time.time(), "first_batch": len(events)})
            seen += len(events)
            if seen >= expected and not done:
                # Only the first and the last batch touch Redis: a do-nothing reference.
                done = True
                await redis.hset(key, mapping={"done_at": time.time(), "count": seen})
            await ack_all(stream, events)

    return app
