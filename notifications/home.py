"""App Home: each rep's dashboard in the Home tab, published at most once a minute.

Slack shows the last view published for a user (``views.publish``) whenever they
open the tab, so spm-stream publishes when a rep opens it (``app_home_opened``) and,
on the leader's timer, when their numbers changed since the last publish. Both go
through ``due``: nothing is published when the view is unchanged, and nothing more
than once in ``MIN_INTERVAL_S`` (a busy rep's counters change every few seconds; a
changed view waits for the next round, at most a minute).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final, Literal

from redis.asyncio import Redis

from notifications import blockkit
from notifications.render import Message

__all__ = ["MIN_INTERVAL_S", "HomeViews", "as_view", "digest", "due"]

MIN_INTERVAL_S: Final = 60.0

Decision = Literal["publish", "unchanged", "wait"]


def digest(data: Any) -> str:
    """What a view shows, as a short hash of its data (not of its "updated" time)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def due(last_at: float | None, last_digest: str | None, new_digest: str, now: float) -> Decision:
    """Publish a changed view unless the last publish was less than a minute ago (pure)."""
    if last_digest == new_digest:
        return "unchanged"
    if last_at is not None and now - last_at < MIN_INTERVAL_S:
        return "wait"
    return "publish"


def as_view(message: Message) -> dict[str, Any]:
    """A Home tab view of a rendered message, within Slack's 100 blocks."""
    return {"type": "home", "blocks": message.blocks[: blockkit.MAX_HOME_BLOCKS]}


class HomeViews:
    """Who opened their Home tab, and what was last published there and when."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:{{notify}}:home"

    async def opened(self, slack_user: str) -> None:
        """Remember a user who opened the tab: their view is kept current from now on."""
        await self.redis.sadd(f"{self.prefix}:users", slack_user)

    async def users(self) -> list[str]:
        """Everyone whose Home tab is kept current."""
        return sorted(str(u) for u in await self.redis.smembers(f"{self.prefix}:users"))

    async def last(self, slack_user: str) -> tuple[float | None, str | None]:
        """When the user's view was last published, and its digest."""
        found = await self.redis.hgetall(f"{self.prefix}:{slack_user}")
        at, seen = found.get("at"), found.get("digest")
        return (float(at) if at is not None else None), (str(seen) if seen is not None else None)

    async def published(self, slack_user: str, at: float, view_digest: str) -> None:
        """Record a publish (kept a week: a user who never comes back is forgotten)."""
        key = f"{self.prefix}:{slack_user}"
        await self.redis.hset(key, mapping={"at": at, "digest": view_digest})
        await self.redis.expire(key, 7 * 86_400)
