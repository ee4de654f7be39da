"""The audit trail: one entry per notification decision (sent, silenced, duplicate, …).

A Redis stream capped at the last ``MAXLEN`` entries (``<prefix>:{notify}:audit``);
``spm-stream notifications log`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from redis.asyncio import Redis

from spm_stream.rules.alerts import Alert

__all__ = ["MAXLEN", "Audit", "AuditEntry", "AuditTrail"]

MAXLEN: Final = 100_000


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


class AuditTrail:
    """Appends decisions and reads them back."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.key = f"{prefix}:{{notify}}:audit"

    async def record(
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
        await self.record_many(now, [Audit(status, recipient, tuple(alerts), reason, channel)])

    async def record_many(self, now: datetime, entries: Sequence[Audit]) -> None:
        """Append decisions to the audit trail, in order, in one round trip."""
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)
        at = now.isoformat()
        for e in entries:
            pipe.xadd(
                self.key,
                {
                    "at": at,
                    "status": e.status,
                    "recipient": e.recipient,
                    "channel": e.channel,
                    "rules": ",".join(sorted({a.rule for a in e.alerts})),
                    "identities": ",".join(a.identity for a in e.alerts),
                    "reason": e.reason,
                },
                maxlen=MAXLEN,
                approximate=True,
            )
        await pipe.execute()

    async def log(
        self, *, recipient: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Audit entries, oldest first, optionally for one recipient or subject and since a time."""
        rows = await self.redis.xrange(self.key, min="-", max="+")
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
