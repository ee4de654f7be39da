"""The alert: what the rules raise and the notifier delivers, through the alerts topic.

An alert has an identity — rule, subject and key (e.g. ``no_show.rep`` /
``rep-17`` / ``m-42``) — by which the notifier deduplicates it.
Alerts cross the topic as JSON, so the rules side and the notifier side scale
and fail on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

__all__ = ["RULES", "Alert", "Recipient"]

#: Every rule that raises alerts, and the template that renders it.
RULES: dict[str, str] = {
    "no_show.rep": "no_show_rep",
    "no_show.manager": "no_show_manager",
    "reschedule.by_rep": "reschedule_by_rep",
    "behind_target": "behind_target",
    "behind_target.resolved": "back_on_pace",
    "nudge": "nudge",
    "digest": "digest",
    "deal.big": "big_deal",
    "badge.earned": "badge_earned",
    "rank.passed": "rank_passed",
    "contest": "contest",
}


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person of the directory (delivered as a DM) or a Slack channel."""

    kind: Literal["person", "channel"]
    id: str


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing somebody should be told, with everything its template needs."""

    rule: str
    subject: str
    key: str
    recipient: Recipient
    raised_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown alert rule {self.rule!r}")
        if self.raised_at.tzinfo is None:
            raise ValueError("raised_at must be timezone-aware")

    @property
    def identity(self) -> str:
        """rule/subject/key: the same alert raised twice has the same identity."""
        return f"{self.rule}/{self.subject}/{self.key}"

    @property
    def template(self) -> str:
        """The template kind that renders this alert."""
        return RULES[self.rule]

    @property
    def partition_key(self) -> bytes:
        """Its record key on the alerts topic: a recipient's alerts share a partition, in order."""
        return self.recipient.id.encode()

    def dumps(self) -> bytes:
        """JSON for the alerts topic and the outbox."""
        return orjson.dumps(
            {
                "rule": self.rule,
                "subject": self.subject,
                "key": self.key,
                "recipient": {"kind": self.recipient.kind, "id": self.recipient.id},
                "raised_at": self.raised_at.isoformat(),
                "data": self.data,
            }
        )

    @classmethod
    def loads(cls, raw: bytes | str) -> Alert:
        """Parse an alert; raise ValueError naming what is wrong."""
        try:
            data = orjson.loads(raw)
            return cls(
                rule=data["rule"],
                subject=data["subject"],
                key=data["key"],
                recipient=Recipient(data["recipient"]["kind"], data["recipient"]["id"]),
                raised_at=datetime.fromisoformat(data["raised_at"]),
                data=dict(data.get("data") or {}),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed alert: {exc!r}") from None
