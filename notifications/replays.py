"""Requests already handled: Slack interactions replayed within their signature window."""

from __future__ import annotations

from redis.asyncio import Redis

__all__ = ["Replays"]


class Replays:
    """A set of request ids that forgets each after its ``ttl_s``."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:{{notify}}:once"

    async def first_time(self, what: str, ttl_s: int) -> bool:
        """True the first time ``what`` is seen within ``ttl_s`` (a replayed request: False)."""
        return bool(await self.redis.set(f"{self.prefix}:{what}", "1", nx=True, ex=ttl_s))
