"""The notifier's durable state, one small class per concern, on one Redis connection.

Every key is under ``<SPM_REDIS_PREFIX>:{notify}`` (one Redis Cluster slot, since
the outbox scripts touch the delivery log too). Nothing waits in memory: a
worker restart, a leader change or a Slack outage loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from notifications.audit import AuditTrail
from notifications.home import HomeViews
from notifications.outbox import DeliveryLog, Outbox
from notifications.replays import Replays
from notifications.silences import Silences

__all__ = ["NotifyState"]


@dataclass(frozen=True, slots=True)
class NotifyState:
    """The outbox, the delivery log, silences, the audit trail, handled requests and the
    App Home views published."""

    outbox: Outbox
    sent: DeliveryLog
    silences: Silences
    audit: AuditTrail
    replays: Replays
    homes: HomeViews

    @classmethod
    def on(cls, redis: Redis, prefix: str) -> NotifyState:
        """The state of the deployment whose keys start with ``prefix``."""
        sent = DeliveryLog(redis, prefix)
        return cls(
            Outbox(redis, prefix, sent),
            sent,
            Silences(redis, prefix),
            AuditTrail(redis, prefix),
            Replays(redis, prefix),
            HomeViews(redis, prefix),
        )

    async def close(self) -> None:
        """Close the Redis connection (the CLI's; the worker shares the store's)."""
        await self.outbox.redis.aclose()
