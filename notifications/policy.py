"""The notification policy, as small pure stages in the manner of Alertmanager.

An accepted alert passes, in order: **expire** (too old: a replay, never news) →
**silence** (a matching silence or snooze) → **dedupe** (sent within the repeat
interval; the delivery log is in Redis, so this holds across restarts) →
**route** (person → Slack id, zone, locale, calendar) → **schedule** (quiet hours
and working hours of the recipient: delayed, never dropped) → **group** (one
message per recipient per ``group_wait``). ``notifications.notifier`` runs
these against the outbox; everything here is plain data in, decision out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any, Final

import orjson

from spm_stream.config.directory import Directory
from spm_stream.rules.alerts import Alert
from spm_stream.rules.config import NotifyPolicy, QuietHours
from spm_stream.time.worktime import ALWAYS, WorkCalendar, next_working_instant

__all__ = [
    "DROP_STAGES",
    "PERMANENT_ERRORS",
    "Accepting",
    "Route",
    "Silence",
    "Stage",
    "backoff",
    "dedupe",
    "deliver_at",
    "drop_reason",
    "expire",
    "in_quiet_hours",
    "route",
]

#: Slack errors that no retry will fix for this recipient; anything else is retried.
PERMANENT_ERRORS: Final = frozenset(
    {
        "channel_not_found",
        "user_not_found",
        "is_archived",
        "not_in_channel",
        "cannot_dm_bot",
        "user_disabled",
        "invalid_blocks",
        "msg_too_long",
        "no_text",
    }
)


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute alerts matching every given matcher until ``until`` (rule globs like ``no_show.*``)."""

    id: str
    until: datetime
    rule: str | None = None
    subject: str | None = None
    comment: str = ""
    created_by: str = ""
    created_at: datetime | None = None

    def matches(self, alert: Alert, now: datetime) -> bool:
        """True while active and when the rule glob and the subject match."""
        return (
            now < self.until
            and (self.rule is None or fnmatchcase(alert.rule, self.rule))
            and (self.subject is None or self.subject == alert.subject)
        )

    def dumps(self) -> str:
        """JSON for the silences hash."""
        return orjson.dumps(
            {
                "id": self.id,
                "until": self.until.isoformat(),
                "rule": self.rule,
                "subject": self.subject,
                "comment": self.comment,
                "created_by": self.created_by,
                "created_at": self.created_at.isoformat() if self.created_at else None,
            }
        ).decode()

    @classmethod
    def loads(cls, raw: str | bytes) -> Silence:
        """Parse what ``dumps`` wrote."""
        d: dict[str, Any] = orjson.loads(raw)
        created = d.get("created_at")
        return cls(
            id=d["id"],
            until=datetime.fromisoformat(d["until"]),
            rule=d.get("rule"),
            subject=d.get("subject"),
            comment=d.get("comment", ""),
            created_by=d.get("created_by", ""),
            created_at=datetime.fromisoformat(created) if created else None,
        )


@dataclass(frozen=True, slots=True)
class Accepting:
    """What the drop stages know about an alert being accepted."""

    now: datetime
    policy: NotifyPolicy
    silences: Sequence[Silence]
    already_sent: bool


#: A drop stage: (status, reason) when the alert stops here, None to pass it on.
Stage = Callable[[Alert, Accepting], "tuple[str, str] | None"]


def expire(alert: Alert, at: Accepting) -> tuple[str, str] | None:
    """Too old to be news: a replayed history, or an alert that waited out an outage."""
    if at.now - alert.raised_at > at.policy.max_age:
        return "expired", f"raised {alert.raised_at.isoformat()}, older than max_age"
    return None


def silence(alert: Alert, at: Accepting) -> tuple[str, str] | None:
    """Muted by a matching silence or a snooze."""
    for s in at.silences:
        if s.matches(alert, at.now):
            return "silenced", f"silence {s.id}: {s.comment}".rstrip(": ")
    return None


def dedupe(alert: Alert, at: Accepting) -> tuple[str, str] | None:
    """Sent within the repeat interval (the delivery log)."""
    return ("duplicate", "sent within the repeat interval") if at.already_sent else None


#: The drop stages, in order; an accepted alert that passes them all is routed,
#: scheduled and grouped (``notifications.notifier.Notifier.accept_many``).
DROP_STAGES: Final[tuple[Stage, ...]] = (expire, silence, dedupe)


def drop_reason(
    alert: Alert,
    now: datetime,
    policy: NotifyPolicy,
    silences: Sequence[Silence],
    already_sent: bool,
) -> tuple[str, str] | None:
    """(status, reason) of the first drop stage that stops the alert, or None."""
    at = Accepting(now, policy, silences, already_sent)
    for stage in DROP_STAGES:
        if (dropped := stage(alert, at)) is not None:
            return dropped
    return None


@dataclass(frozen=True, slots=True)
class Route:
    """Where and how one recipient is reached."""

    recipient: str  # person id or channel
    channel: str | None  # Slack user id (a DM) or channel; None: undeliverable
    locale: str
    calendar: WorkCalendar = field(default=ALWAYS)
    person: bool = True

    @property
    def group(self) -> str:
        """The outbox group: one message per recipient per group window."""
        return f"{'person' if self.person else 'channel'}:{self.recipient}"


def route(alert: Alert, directory: Directory) -> Route:
    """Resolve an alert's recipient through the people directory."""
    rid = alert.recipient.id
    if alert.recipient.kind == "channel":
        return Route(
            rid, rid, directory.locale, directory.calendar.for_zone(directory.zone()), False
        )
    person = directory.people.get(rid)
    return Route(
        rid,
        person.slack_id if person else None,
        directory.locale_of(rid),
        directory.calendar_of(rid),
    )


def in_quiet_hours(instant: datetime, cal: WorkCalendar, quiet: QuietHours) -> datetime | None:
    """When the quiet hours around ``instant`` end (in the calendar's zone), or None."""
    local = instant.astimezone(cal.zone)
    t = local.time()
    start, end = quiet.start, quiet.end
    wraps = start > end  # e.g. 20:00-08:00 spans midnight
    inside = (t >= start or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    day = local.date()
    if wraps and t >= start:
        day += timedelta(days=1)
    return datetime.combine(day, end, cal.zone)


def deliver_at(now: datetime, route: Route, policy: NotifyPolicy) -> datetime:
    """The earliest instant from ``now`` that is outside quiet hours and, for people,
    inside working hours when the policy says so."""
    at = now
    for _ in range(8):  # the two constraints settle in a few hops
        moved = at
        if route.person and policy.working_hours_only:
            moved = next_working_instant(route.calendar, moved)
        if policy.quiet_hours is not None:
            moved = in_quiet_hours(moved, route.calendar, policy.quiet_hours) or moved
        if moved == at:
            return at
        at = moved
    return at


def backoff(attempt: int, base: timedelta = timedelta(seconds=5)) -> timedelta:
    """Exponential retry delay for a failed delivery: 5 s, 10 s, 20 s … capped at 10 minutes."""
    # The exponent is capped too: attempt 45 of a long outage overflowed timedelta.
    delay: timedelta = base * (2 ** min(max(0, attempt - 1), 16))
    return min(delay, timedelta(minutes=10))
