"""The outbox, the delivery log, silences and the audit trail, in Redis.

Nothing waits in memory: an accepted alert is in the outbox (a group per
recipient, due at its delivery time) until Slack confirmed it, then its identity
goes to the delivery log for the repeat interval. So a worker restart, a
leader change or a Slack outage loses nothing, and nothing is sent twice.

Keys (prefix ``<SPM_REDIS_PREFIX>:{notify}``, one Redis Cluster slot):
  outbox:due         ZSET group -> epoch seconds it is due
  outbox:g:<group>   HASH identity -> alert JSON
  outbox:n:<group>   STRING failed attempts of the group (for backoff)
  sent:<identity>    STRING epoch sent, EX repeat interval: the dedupe log
  silences           HASH id -> silence JSON
  audit              STREAM one entry per decision: sent, silenced, duplicate, ...
  once:<what>        STRING, EX a few minutes: a Slack interaction already handled
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from redis.asyncio import Redis

from notifications.policy import Silence
from spm_stream.rules.alerts import Alert

__all__ = ["GROUP_LIMIT", "Audit", "AuditEntry", "Enqueue", "Outbox"]

_AUDIT_MAXLEN: Final = 100_000
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


@dataclass(frozen=True, slots=True)
class Audit:
    """One decision to append to the audit trail."""

    status: str
    recipient: str
    alerts: tuple[Alert, ...]
    reason: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail."""

    id: str
    at: datetime
    status: str
    recipient: str
    channel: str
    rules: str
    identities: str
    reason: str

    def as_json(self) -> dict[str, str]:
        """Plain data for `spm-stream notifications log --format json`."""
        return {
            "at": self.at.isoformat(),
            "status": self.status,
            "recipient": self.recipient,
            "channel": self.channel,
            "rules": self.rules,
            "identities": self.identities,
            "reason": self.reason,
        }


class Outbox:
    """Durable notification state of one deployment."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
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
                    self._k(f"sent:{identity}"),
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

    async def were_sent(self, identities: Sequence[str]) -> list[bool]:
        """For each identity: is it in the delivery log (sent within its repeat interval)?"""
        pipe = self.redis.pipeline(transaction=False)
        for identity in identities:
            pipe.exists(self._k(f"sent:{identity}"))
        return [bool(found) for found in await pipe.execute()] if identities else []

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
            args += [self._k(f"sent:{identity}"), max(1, ttl)]
        await self._finish(
            keys=[
                self._k("outbox:due"),
                self._k(f"outbox:g:{group}"),
                self._k(f"outbox:n:{group}"),
            ],
            args=args,
        )

    async def retry(self, group: str, at: datetime, failed: bool = True) -> None:
        """Move a group's delivery to ``at``; a failure also counts toward its backoff."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(self._k("outbox:due"), {group: at.timestamp()}, xx=True)
        if failed:
            pipe.incr(self._k(f"outbox:n:{group}"))
        await pipe.execute()

    async def first_time(self, what: str, ttl_s: int) -> bool:
        """True the first time ``what`` is seen within ``ttl_s`` (a replayed request: False)."""
        return bool(await self.redis.set(self._k(f"once:{what}"), "1", nx=True, ex=ttl_s))

    # -- silences ----------------------------------------------------------------

    async def add_silence(
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
        await self.redis.hset(self._k("silences"), silence.id, silence.dumps())
        return silence

    async def silences(self, now: datetime | None = None) -> list[Silence]:
        """Every silence, or only those active at ``now``; expired ones are pruned."""
        raw = await self.redis.hgetall(self._k("silences"))
        found = sorted((Silence.loads(v) for v in raw.values()), key=lambda s: s.until)
        if now is None:
            return found
        expired = [s.id for s in found if s.until <= now]
        if expired:
            await self.redis.hdel(self._k("silences"), *expired)
        return [s for s in found if s.until > now]

    async def remove_silence(self, silence_id: str) -> bool:
        """Delete a silence; False when there was none with that id."""
        return bool(await self.redis.hdel(self._k("silences"), silence_id))

    # -- audit -------------------------------------------------------------------

    async def audit(
        self,
        now: datetime,
        status: str,
        recipient: str,
        alerts: Iterable[Alert],
        *,
        channel: str = "",
        reason: str = "",
    ) -> None:
        """Append one decision to the audit trail (capped at the last 100k entries)."""
        await self.audit_many(now, [Audit(status, recipient, tuple(alerts), reason, channel)])

    async def audit_many(self, now: datetime, entries: Sequence[Audit]) -> None:
        """Append decisions to the audit trail, in order, in one round trip."""
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)
        at = now.isoformat()
        for e in entries:
            pipe.xadd(
                self._k("audit"),
                {
                    "at": at,
                    "status": e.status,
                    "recipient": e.recipient,
                    "channel": e.channel,
                    "rules": ",".join(sorted({a.rule for a in e.alerts})),
                    "identities": ",".join(a.identity for a in e.alerts),
                    "reason": e.reason,
                },
                maxlen=_AUDIT_MAXLEN,
                approximate=True,
            )
        await pipe.execute()

    async def log(
        self, *, recipient: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Audit entries, oldest first, optionally for one recipient or subject and since a time."""
        rows = await self.redis.xrange(self._k("audit"), min="-", max="+")
        out: list[AuditEntry] = []
        for entry_id, raw in rows or []:
            f = {str(k): str(v) for k, v in (raw or {}).items()}
            entry = AuditEntry(
                str(entry_id),
                datetime.fromisoformat(f["at"]),
                f["status"],
                f["recipient"],
                f.get("channel", ""),
                f.get("rules", ""),
                f.get("identities", ""),
                f.get("reason", ""),
            )
            if since is not None and entry.at < since:
                continue
            if (
                recipient
                and recipient != entry.recipient
                and f"/{recipient}/" not in entry.identities
            ):
                continue
            out.append(entry)
        return out[-limit:]


def utcnow() -> datetime:
    """The wall clock, for the shell; the core always takes ``now`` as an argument."""
    return datetime.now(UTC)
