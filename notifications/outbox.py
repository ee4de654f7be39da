"""The outbox and the delivery log, in Redis.

Nothing waits in memory: an accepted alert is in the outbox (a group per
recipient, due at its delivery time) until Slack confirmed it, then its identity
goes to the delivery log for the repeat interval. So a worker restart, a
leader change or a Slack outage loses nothing, and nothing is sent twice.

Keys (prefix ``<SPM_REDIS_PREFIX>:{notify}``, one Redis Cluster slot):
  outbox:due         ZSET group -> epoch seconds it is due
  outbox:g:<group>   HASH identity -> alert JSON
  outbox:n:<group>   STRING failed attempts of the group (for backoff)
  outbox:u:<group>   STRING JSON: a send whose outcome is unknown (look it up before resending)
  sent:<identity>    STRING epoch sent, EX repeat interval: the dedupe log
  silences           HASH id -> silence JSON (notifications.silences)
  audit              STREAM one entry per decision (notifications.audit)
  once:<what>        STRING, EX a few minutes: a Slack interaction already handled
                     (notifications.interactions.Replays)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from redis.asyncio import Redis

from spm_stream.rules.alerts import Alert

__all__ = ["GROUP_LIMIT", "DeliveryLog", "Enqueue", "Outbox"]

#: Alerts one recipient's group may hold: a message shows ten and counts the rest, so
#: a backlog past this (a Slack outage of days, a runaway rule) is refused, and audited.
GROUP_LIMIT: Final = 500

# Queue an alert unless it was sent within the repeat interval or is already queued;
# a resolution withdraws its still-queued firing alert instead of sending both.
_ENQUEUE: Final = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 'duplicate' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'pending' end
if ARGV[4] ~= '' and redis.call('HDEL', KEYS[2], ARGV[4]) == 1 then
  if redis.call('HLEN', KEYS[2]) == 0 then redis.call('ZREM', KEYS[1], ARGV[5]) end
  return 'withdrawn'
end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[5])
return 'queued'
"""

# Done with some alerts of a group: remove them, log the sent ones for the repeat interval.
# ARGV: group, now, n_done, done identities..., n_sent, (sent_key, ttl)...
_FINISH: Final = """
local group, now, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
for i = 1, n do
  redis.call('HDEL', KEYS[2], ARGV[3 + i])
end
local base = 4 + n
for i = 1, tonumber(ARGV[base]) do
  redis.call('SET', ARGV[base + 2 * i - 1], now, 'EX', ARGV[base + 2 * i])
end
if redis.call('HLEN', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], group)
  redis.call('DEL', KEYS[3])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Enqueue:
    """An alert to queue in its recipient's group, due at ``due``."""

    alert: Alert
    group: str
    due: datetime
    withdraws: str | None = None


class DeliveryLog:
    """What was sent within its repeat interval: the dedupe stage's memory."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:{{notify}}"

    def key(self, identity: str) -> str:
        """STRING epoch sent, EX the repeat interval (set by ``Outbox.finish``)."""
        return f"{self.prefix}:sent:{identity}"

    async def were_sent(self, identities: Sequence[str]) -> list[bool]:
        """For each identity: is it in the delivery log (sent within its repeat interval)?"""
        pipe = self.redis.pipeline(transaction=False)
        for identity in identities:
            pipe.exists(self.key(identity))
        return [bool(found) for found in await pipe.execute()] if identities else []


class Outbox:
    """The alerts waiting for delivery, one group per recipient, due at a time."""

    def __init__(self, redis: Redis, prefix: str, sent: DeliveryLog) -> None:
        self.redis = redis
        self.sent = sent
        # One hash tag for every notifier key: the scripts touch several, in one cluster slot.
        self.prefix = f"{prefix}:{{notify}}"
        self._enqueue = redis.register_script(_ENQUEUE)
        self._finish = redis.register_script(_FINISH)

    def _k(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    async def enqueue_many(self, requests: Sequence[Enqueue]) -> list[str]:
        """Queue alerts in their recipients' groups, in order, in one round trip: for each,
        queued | pending | duplicate | withdrawn | full (the group holds ``GROUP_LIMIT``)."""
        if not requests:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for r in requests:
            identity = r.alert.identity
            await self._enqueue(
                keys=[
                    self._k("outbox:due"),
                    self._k(f"outbox:g:{r.group}"),
                    self.sent.key(identity),
                ],
                args=[
                    identity,
                    r.alert.dumps(),
                    r.due.timestamp(),
                    r.withdraws or "",
                    r.group,
                    GROUP_LIMIT,
                ],
                client=pipe,
            )
        return [str(result) for result in await pipe.execute()]

    async def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Groups due at ``now``, oldest first."""
        found = await self.redis.zrangebyscore(
            self._k("outbox:due"), "-inf", now.timestamp(), start=0, num=limit
        )
        return [str(g) for g in found]

    async def group(self, group: str) -> tuple[dict[str, Alert], int]:
        """The alerts queued in a group, and how many deliveries of it failed so far."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self._k(f"outbox:g:{group}"))
        pipe.get(self._k(f"outbox:n:{group}"))
        raw, attempts = await pipe.execute()
        return {str(i): Alert.loads(v) for i, v in raw.items()}, int(attempts or 0)

    async def pending(self) -> int:
        """How many groups wait in the outbox."""
        return int(await self.redis.zcard(self._k("outbox:due")))

    async def finish(
        self, group: str, done: Iterable[str], sent: Mapping[str, int], now: datetime
    ) -> None:
        """Remove ``done`` identities from a group; log ``sent`` ones (identity -> ttl seconds)."""
        done = list(done)
        args: list[Any] = [group, now.timestamp(), len(done), *done, len(sent)]
        for identity, ttl in sent.items():
            args += [self.sent.key(identity), max(1, ttl)]
        await self._finish(
            keys=[
                self._k("outbox:due"),
                self._k(f"outbox:g:{group}"),
                self._k(f"outbox:n:{group}"),
            ],
            args=args,
        )

    async def unsure(self, group: str) -> dict[str, Any] | None:
        """The send of this group whose outcome is unknown (a timeout), if any."""
        raw = await self.redis.get(self._k(f"outbox:u:{group}"))
        return None if raw is None else dict(orjson.loads(raw))

    async def set_unsure(self, group: str, send: dict[str, Any] | None) -> None:
        """Remember a send whose outcome is unknown (kept a day), or forget it (None)."""
        key = self._k(f"outbox:u:{group}")
        if send is None:
            await self.redis.delete(key)
        else:
            await self.redis.set(key, orjson.dumps(send), ex=86_400)

    async def retry(self, group: str, at: datetime, failed: bool = True) -> None:
        """Move a group's delivery to ``at``; a failure also counts toward its backoff."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self._k("outbox:due"), {group: at.timestamp()}, xx=True)
        if failed:
            pipe.incr(self._k(f"outbox:n:{group}"))
        await pipe.execute()

    # -- silences ----------------------------------------------------------------
