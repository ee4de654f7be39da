"""Silences in Redis: muting alerts by rule glob and subject until a time.

``policy.Silence`` is the pure matcher; this is where they are kept
(``<prefix>:{notify}:silences``, a hash id -> JSON). Expired ones are pruned when read.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from redis.asyncio import Redis

from notifications.policy import Silence

__all__ = ["Silences"]


class Silences:
    """Adds, lists and removes silences."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:{{notify}}:silences"

    async def add(
        self,
        until: datetime,
        *,
        rule: str | None,
        subject: str | None,
        comment: str,
        created_by: str,
        now: datetime,
    ) -> Silence:
        """Store a new silence and return it (with its id)."""
        silence = Silence(uuid.uuid4().hex[:12], until, rule, subject, comment, created_by, now)
        await self.redis.hset(self.key, silence.id, silence.dumps())
        return silence

    async def find(self, now: datetime | None = None) -> list[Silence]:
        """Every silence, or only those active at ``now``; expired ones are pruned."""
        raw = await self.redis.hgetall(self.key)
        found = sorted((Silence.loads(v) for v in raw.values()), key=lambda s: s.until)
        if now is None:
            return found
        expired = [s.id for s in found if s.until <= now]
        if expired:
            await self.redis.hdel(self.key, *expired)
        return [s for s in found if s.until > now]

    async def remove(self, silence_id: str) -> bool:
        """Delete a silence; False when there was none with that id."""
        return bool(await self.redis.hdel(self.key, silence_id))
