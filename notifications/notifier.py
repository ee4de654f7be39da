"""The notifier: runs the policy stages against the outbox and delivers due groups to Slack.

``accept`` takes an alert from the alerts topic through expire → silence →
dedupe → route → schedule → group into the Redis outbox. ``deliver_due`` is
called by the leader's timer: every due group is re-checked against silences,
paced per channel, rendered (one message per recipient) and posted. Slack
errors never lose a message: a rate limit waits ``Retry-After``, a 5xx, timeout
or outage retries with backoff, and only a permanent error for one recipient
(``channel_not_found``, …) drops that recipient's message, reported to the ops
channel. Both take ``now``, so tests drive the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import aiohttp
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from notifications.outbox import Audit, Enqueue, Outbox
from notifications.policy import PERMANENT_ERRORS, backoff, deliver_at, drop_reason, route
from notifications.render import Message, render
from spm_stream.alerts import Alert
from spm_stream.directory import Directory

__all__ = ["Delivery", "Notifier"]

log = logging.getLogger("spm_stream.notifications")

#: Slack's limit of blocks per message.
_MAX_BLOCKS: Final = 50


@dataclass
class Delivery:
    """What one ``deliver_due`` call did (for logs, /stats and tests)."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    latencies_s: list[float] = field(default_factory=list)


class Notifier:
    """Policy + outbox + Slack for one deployment."""

    def __init__(
        self,
        outbox: Outbox,
        client: AsyncWebClient | None,
        directory: Directory,
        templates_dir: Path | None = None,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.directory = directory
        self.policy = directory.alerts.notify
        self.templates_dir = templates_dir
        self._last_post: dict[str, datetime] = {}

    async def accept(self, alert: Alert, now: datetime) -> str:
        """Run an alert through the policy stages; return what became of it."""
        (status,) = await self.accept_many([alert], now)
        return status

    async def accept_many(self, alerts: Sequence[Alert], now: datetime) -> list[str]:
        """Run a batch of alerts through the policy stages, in order; what became of each.

        A fixed number of Redis round trips per batch, however large: silences,
        the delivery log, the outbox scripts and the audit trail are each read or
        written once, pipelined."""
        if not alerts:
            return []
        silences = await self.outbox.silences(now)
        sent = await self.outbox.were_sent([a.identity for a in alerts])
        statuses: list[str | None] = [None] * len(alerts)
        audits: list[Audit | None] = [None] * len(alerts)
        queue: list[tuple[int, str, Enqueue]] = []  # (position, recipient, request)
        for i, (alert, already_sent) in enumerate(zip(alerts, sent, strict=True)):
            where = route(alert, self.directory)
            dropped = drop_reason(alert, now, self.policy, silences, already_sent)
            if dropped is not None:
                status, reason = dropped
                statuses[i] = status
                audits[i] = Audit(status, where.recipient, (alert,), reason)
            elif where.channel is None:
                reason = f"{where.recipient} has no slack_id in the people directory"
                await self._undeliverable(now, where.recipient, [alert], reason)
                statuses[i] = "undeliverable"
            else:
                due = deliver_at(now + self.policy.group_wait, where, self.policy)
                withdraws = None
                if alert.rule == "behind_target.resolved":
                    withdraws = f"behind_target/{alert.subject}/{alert.key}"
                queue.append((i, where.recipient, Enqueue(alert, where.group, due, withdraws)))
        results = await self.outbox.enqueue_many([request for _, _, request in queue])
        for (i, recipient, request), status in zip(queue, results, strict=True):
            statuses[i] = status
            if status in ("queued", "withdrawn", "duplicate"):
                reason = f"deliver at {request.due.isoformat()}" if status == "queued" else ""
                if status == "withdrawn":
                    reason = "resolved before delivery: the firing alert was withdrawn"
                audits[i] = Audit(status, recipient, (request.alert,), reason)
        await self.outbox.audit_many(now, [a for a in audits if a is not None])
        return [status or "" for status in statuses]

    async def deliver_due(self, now: datetime) -> Delivery:
        """Deliver every outbox group due at ``now``; failures are rescheduled, never lost."""
        result = Delivery()
        for group in await self.outbox.due(now):
            try:
                await self._deliver_group(group, now, result)
            except RedisError:
                raise  # the outbox itself is away: the timer retries the whole round
            except Exception:
                # A bug hit by one recipient's message must not block everybody else's.
                log.exception("delivery of %s failed; retrying it later", group)
                await self.outbox.retry(group, now + backoff(1))
                result.retried += 1
        return result

    async def _deliver_group(self, group: str, now: datetime, result: Delivery) -> None:
        alerts, attempts = await self.outbox.group(group)
        if not alerts:
            await self.outbox.finish(group, [], {}, now)
            return
        first = next(iter(alerts.values()))
        where = route(first, self.directory)
        silences = await self.outbox.silences(now)
        muted = {i: a for i, a in alerts.items() if any(s.matches(a, now) for s in silences)}
        if muted:
            await self.outbox.audit(
                now, "silenced", where.recipient, muted.values(), reason="at delivery"
            )
            await self.outbox.finish(group, muted, {}, now)
            result.dropped += len(muted)
        live = {i: a for i, a in alerts.items() if i not in muted}
        if not live:
            return
        if where.channel is None:  # the directory changed since the alert was queued
            await self._undeliverable(now, where.recipient, live.values(), "no slack_id")
            await self.outbox.finish(group, live, {}, now)
            result.dropped += len(live)
            return
        ready = self._channel_free_at(where.channel, now)
        if ready > now:
            await self.outbox.retry(group, ready, failed=False)
            return
        message, included, broken = self._compose(live, where.locale, where.calendar.zone.key)
        if broken:
            await self._undeliverable(
                now, where.recipient, broken.values(), "template failed to render"
            )
            await self.outbox.finish(group, broken, {}, now)
            result.dropped += len(broken)
        if message is None:
            return
        assert self.client is not None, "deliver_due needs a Slack client"
        try:
            await self.client.chat_postMessage(
                channel=where.channel, text=message.text, blocks=message.blocks, unfurl_links=False
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in PERMANENT_ERRORS:
                await self._undeliverable(
                    now, where.recipient, included.values(), f"slack: {error}"
                )
                await self.outbox.finish(group, included, {}, now)
                result.dropped += len(included)
                return
            retry_after = (
                exc.response.headers.get("Retry-After") if exc.response.status_code == 429 else None
            )
            delay = timedelta(seconds=float(retry_after)) if retry_after else backoff(attempts + 1)
            await self._retry(
                group,
                now,
                delay,
                where.recipient,
                included,
                f"slack: {error or exc.response.status_code}",
            )
            result.retried += 1
            return
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            await self._retry(
                group,
                now,
                backoff(attempts + 1),
                where.recipient,
                included,
                f"slack unreachable: {type(exc).__name__} {exc}".strip(),
            )
            result.retried += 1
            return
        self._last_post[where.channel] = now
        ttl = int(self.policy.repeat_interval.total_seconds())
        await self.outbox.finish(group, included, dict.fromkeys(included, ttl), now)
        await self.outbox.audit(
            now,
            "sent",
            where.recipient,
            included.values(),
            channel=where.channel,
            reason=f"after {attempts} failed attempt(s)" if attempts else "",
        )
        result.sent += len(included)
        result.latencies_s += [(now - a.raised_at).total_seconds() for a in included.values()]
        log.info(
            "notification sent",
            extra={
                "recipient": where.recipient,
                "channel": where.channel,
                "alerts": list(included),
            },
        )

    def _channel_free_at(self, channel: str, now: datetime) -> datetime:
        last = self._last_post.get(channel)
        return now if last is None else max(now, last + self.policy.channel_interval)

    def _compose(
        self, alerts: dict[str, Alert], locale: str, zone: str
    ) -> tuple[Message | None, dict[str, Alert], dict[str, Alert]]:
        """One message for a recipient: every alert that renders and fits in Slack's block limit."""
        texts: list[str] = []
        blocks: list[dict[str, object]] = []
        included: dict[str, Alert] = {}
        broken: dict[str, Alert] = {}
        for identity, alert in sorted(alerts.items(), key=lambda item: item[1].raised_at):
            try:
                msg = self.render(alert, locale, zone)
            except Exception as exc:  # a user template can fail in any way Jinja can
                log.error("template %s failed for %s: %r", alert.template, identity, exc)
                broken[identity] = alert
                continue
            extra = ([{"type": "divider"}] if blocks else []) + msg.blocks
            if blocks and len(blocks) + len(extra) > _MAX_BLOCKS:
                break  # the rest stays in the group for the next message
            blocks += extra
            texts.append(msg.text)
            included[identity] = alert
        if not included:
            return None, included, broken
        return Message(" · ".join(texts), blocks), included, broken

    def render(self, alert: Alert, locale: str, zone: str) -> Message:
        """Render one alert in the recipient's locale and zone."""
        context = {
            "a": alert.data,
            "rep": self.directory.display_name(alert.subject),
            "name": self.directory.display_name(alert.recipient.id),
            "zone": zone,
        }
        return render(alert.template, locale, context, self.templates_dir)

    async def _retry(
        self,
        group: str,
        now: datetime,
        delay: timedelta,
        recipient: str,
        alerts: dict[str, Alert],
        reason: str,
    ) -> None:
        at = now + delay
        await self.outbox.retry(group, at)
        await self.outbox.audit(
            now, "retry", recipient, alerts.values(), reason=f"{reason}; next try {at.isoformat()}"
        )
        log.warning("delivery to %s failed (%s); retrying at %s", recipient, reason, at.isoformat())

    async def _undeliverable(
        self, now: datetime, recipient: str, alerts: Iterable[Alert], reason: str
    ) -> None:
        """Audit a message that cannot be delivered and tell the ops channel, best effort."""
        batch = list(alerts)
        await self.outbox.audit(now, "undeliverable", recipient, batch, reason=reason)
        log.error("undeliverable notification for %s: %s", recipient, reason)
        ops = self.policy.ops_channel
        if ops is None or self.client is None:
            return
        identities = ", ".join(a.identity for a in batch)
        text = f":warning: spm-stream could not notify {recipient}: {reason} ({identities})"
        try:
            await self.client.chat_postMessage(channel=ops, text=text)
        except (TimeoutError, SlackApiError, aiohttp.ClientError, OSError) as exc:
            log.error("ops channel %s unreachable: %r", ops, exc)
