"""The notifier: runs the policy stages against the outbox and delivers due groups to Slack.

``accept_many`` takes alerts from the alerts topic through the drop stages
(``policy.DROP_STAGES``: expire → silence → dedupe), then route → schedule →
group into the Redis outbox. ``deliver_due`` is called by the leader's timer:
every due group passes ``Notifier.delivery_stages`` (silence → expire → refresh,
as of delivery), is paced per channel, rendered (one message per recipient) and
posted. Slack
errors never lose a message: a rate limit waits ``Retry-After``, a 5xx, timeout
or outage retries with backoff, and only a permanent error for one recipient
(``channel_not_found``, …) drops that recipient's message, reported to the ops
channel. Both take ``now``, so tests drive the clock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from notifications import blockkit
from notifications.audit import Audit
from notifications.outbox import GROUP_LIMIT, Enqueue
from notifications.policy import PERMANENT_ERRORS, Route, backoff, deliver_at, drop_reason, route
from notifications.render import Message, labels, render
from notifications.state import NotifyState
from spm_stream.config.directory import Directory
from spm_stream.rules.alerts import Alert

__all__ = [
    "MAX_ALERTS_PER_MESSAGE",
    "METADATA_EVENT",
    "TOKEN_ERRORS",
    "Composed",
    "Delivery",
    "DeliveryStage",
    "Notifier",
    "Refresh",
    "delivery_id",
]

log = logging.getLogger("spm_stream.notifications")

#: Alerts one message shows; more in one group (a burst, or the backlog of an outage)
#: are summed up as "+N more" rather than sent as a stream of long messages.
MAX_ALERTS_PER_MESSAGE: Final = 10


#: Reads an alert again at delivery: its current form, or None when it no longer holds.
Refresh = Callable[[Alert, datetime], Awaitable[Alert | None]]
#: A stage of delivery: the group's alerts it lets through (group, now, route, alerts).
DeliveryStage = Callable[[str, datetime, Route, dict[str, Alert]], Awaitable[dict[str, Alert]]]

#: The message metadata type that names the alerts a message delivers (Slack has no
#: idempotency key: this is how a send of unknown outcome is looked up).
METADATA_EVENT: Final = "spm_alert"


def delivery_id(group: str, alerts: Iterable[str]) -> str:
    """One send of a group's alerts, named by what it carries."""
    text = group + "|" + ",".join(sorted(alerts))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


#: Slack errors about the token itself: every message fails alike until someone fixes it.
TOKEN_ERRORS: Final = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


@dataclass(frozen=True, slots=True)
class Composed:
    """One message for a recipient, and what became of each of the group's alerts."""

    message: Message | None
    included: dict[str, Alert]
    broken: dict[str, Alert]
    summarized: dict[str, Alert]


@dataclass
class Delivery:
    """What one ``deliver_due`` call did (for logs, /stats and tests)."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0


class Notifier:
    """Policy + outbox + Slack for one deployment."""

    def __init__(
        self,
        state: NotifyState,
        client: AsyncWebClient | None,
        directory: Directory,
        templates_dir: Path | None = None,
        refresh: Refresh | None = None,
    ) -> None:
        self.state = state
        self.outbox = state.outbox
        self.audit = state.audit
        #: What a due group passes at delivery, in order, before it is composed and sent;
        #: each stage finishes (and audits) the alerts it stops.
        self.delivery_stages: tuple[DeliveryStage, ...] = (
            self._silenced_now,
            self._expired_now,
            self._refreshed,
        )
        self.client = client
        self.directory = directory
        self.policy = directory.alerts.notify
        self.templates_dir = templates_dir
        self.refresh = refresh
        self._last_post: dict[str, datetime] = {}
        #: The token error Slack last answered (invalid_auth, …), until a post succeeds.
        self.slack_error: str | None = None

    async def accept_many(self, alerts: Sequence[Alert], now: datetime) -> list[str]:
        """Run a batch of alerts through the policy stages, in order; what became of each.

        A fixed number of Redis round trips per batch, however large: silences,
        the delivery log, the outbox scripts and the audit trail are each read or
        written once, pipelined."""
        if not alerts:
            return []
        silences = await self.state.silences.find(now)
        sent = await self.state.sent.were_sent([a.identity for a in alerts])
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
            if status in ("queued", "withdrawn", "duplicate", "full"):
                reason = f"deliver at {request.due.isoformat()}" if status == "queued" else ""
                if status == "withdrawn":
                    reason = "resolved before delivery: the firing alert was withdrawn"
                if status == "full":
                    log.error(
                        "outbox full for %s: alert %s dropped", recipient, request.alert.identity
                    )
                    reason = f"{GROUP_LIMIT} alerts already wait for this recipient"
                audits[i] = Audit(status, recipient, (request.alert,), reason)
        await self.audit.record_many(now, [a for a in audits if a is not None])
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
        where = route(next(iter(alerts.values())), self.directory)
        live = alerts
        for stage in self.delivery_stages:
            kept = await stage(group, now, where, live)
            result.dropped += len(live) - len(kept)
            if not (live := kept):
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
        composed = self._compose(live, where.locale, where.calendar.zone.key)
        if composed.broken:
            await self._undeliverable(
                now, where.recipient, composed.broken.values(), "template failed to render"
            )
            await self.outbox.finish(group, composed.broken, {}, now)
            result.dropped += len(composed.broken)
        if composed.message is None:
            return
        await self._send(group, now, where, attempts, composed, result)

    async def _send(
        self,
        group: str,
        now: datetime,
        where: Route,
        attempts: int,
        composed: Composed,
        result: Delivery,
    ) -> None:
        message, included = composed.message, composed.included
        assert message is not None
        assert where.channel is not None
        assert self.client is not None, "deliver_due needs a Slack client"
        if (unsure := await self.outbox.unsure(group)) is not None:
            # The last send's outcome is unknown: Slack has no idempotency key, so look for
            # it (by its metadata) in the channel before sending anything twice.
            delivered = await self._already_delivered(where.channel, unsure)
            if delivered is None:
                await self._retry(
                    group, now, backoff(attempts + 1), where.recipient, included,
                    "cannot read the channel's history to check an unknown outcome",
                )  # fmt: skip
                result.retried += 1
                return
            await self.outbox.set_unsure(group, None)
            found = {i: a for i, a in included.items() if i in delivered}
            if found:
                await self._delivered(group, now, where, attempts, found, result, "found")
                included = {i: a for i, a in included.items() if i not in found}
                if not included:
                    return
                composed = self._compose(included, where.locale, where.calendar.zone.key)
                if composed.message is None:
                    return
                message, included = composed.message, composed.included
        send = {"delivery": delivery_id(group, included), "identities": sorted(included)}
        try:
            await self.client.chat_postMessage(
                channel=where.channel,
                text=message.text,
                blocks=message.blocks,
                unfurl_links=False,
                metadata={"event_type": METADATA_EVENT, "event_payload": send},
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error == "invalid_blocks" and len(included) > 1:
                # One alert's blocks broke the message: send each alone, so only that one
                # is lost, not everything grouped with it.
                log.warning(
                    "invalid_blocks for %s: sending its %d alerts one by one",
                    where.recipient,
                    len(included),
                )
                for identity, alert in included.items():
                    alone = self._compose({identity: alert}, where.locale, where.calendar.zone.key)
                    if alone.message is not None:
                        await self._send(group, now, where, attempts, alone, result)
                if composed.summarized:
                    await self._summarized(group, now, where, composed.summarized)
                return
            if error in TOKEN_ERRORS:
                await self._token_failed(error)
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
            if not isinstance(exc, aiohttp.ClientConnectorError):
                # Sent or not? A timeout or a dropped connection cannot say: the next try
                # looks the delivery up first.
                await self.outbox.set_unsure(group, {**send, "since": now.timestamp()})
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
        self.slack_error = None
        await self._delivered(group, now, where, attempts, included, result, "sent")
        if composed.summarized:
            await self._summarized(group, now, where, composed.summarized)
        log.info(
            "notification sent",
            extra={
                "recipient": where.recipient,
                "channel": where.channel,
                "alerts": list(included),
            },
        )

    async def _delivered(
        self,
        group: str,
        now: datetime,
        where: Route,
        attempts: int,
        included: dict[str, Alert],
        result: Delivery,
        how: str,
    ) -> None:
        """Finish alerts Slack has: logged for the repeat interval, audited as sent."""
        ttl = int(self.policy.repeat_interval.total_seconds())
        await self.outbox.finish(group, included, dict.fromkeys(included, ttl), now)
        reason = f"after {attempts} failed attempt(s)" if attempts else ""
        if how == "found":
            reason = "found in the channel's history after an unknown outcome, not sent again"
        await self.audit.record(
            now,
            "sent",
            where.recipient,
            included.values(),
            channel=where.channel or "",
            reason=reason,
        )
        result.sent += len(included)

    async def _already_delivered(self, channel: str, unsure: dict[str, Any]) -> set[str] | None:
        """The identities of ``unsure``'s send that are in the channel since it was tried
        (its message metadata names them). None when the history cannot be read now (a
        timeout, a 5xx: the next try looks again); an empty set when it never can be (a
        ``#name``, a missing scope), so the alerts are sent again: at least once."""
        assert self.client is not None
        if not channel.startswith(("U", "W", "C", "G", "D")):
            log.warning("%s: history needs a channel id; resending (at least once)", channel)
            return set()
        try:
            if channel.startswith(("U", "W")):  # a DM: its conversation id first
                opened = await self.client.conversations_open(users=channel)
                channel = str(opened["channel"]["id"])
            history = await self.client.conversations_history(
                channel=channel,
                oldest=str(float(unsure.get("since", 0)) - 60),
                limit=200,
                include_all_metadata=True,
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if exc.response.status_code >= 500 or error in ("ratelimited", "internal_error"):
                return None
            log.warning("history of %s unreadable (%s); resending (at least once)", channel, error)
            return set()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("history of %s unreadable now: %r", channel, exc)
            return None
        for found in history.get("messages") or []:
            meta = found.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == METADATA_EVENT and (
                payload.get("delivery") == unsure.get("delivery")
            ):
                return set(payload.get("identities") or [])
        return set()

    async def _silenced_now(
        self, group: str, now: datetime, where: Route, live: dict[str, Alert]
    ) -> dict[str, Alert]:
        """A silence added since the alert was queued mutes it at delivery too."""
        silences = await self.state.silences.find(now)
        muted = {i: a for i, a in live.items() if any(s.matches(a, now) for s in silences)}
        return await self._drop(group, now, where, live, muted, "silenced", "at delivery")

    async def _expired_now(
        self, group: str, now: datetime, where: Route, live: dict[str, Alert]
    ) -> dict[str, Alert]:
        """max_age at delivery too: an alert that waited out a long outage is no news now.
        Counted from when it was meant to go out, so a weekend's quiet hours never expire it."""
        stale = {i: a for i, a in live.items() if self._overdue(a, where, now)}
        return await self._drop(group, now, where, live, stale, "expired", "older than max_age")

    async def _refreshed(
        self, group: str, now: datetime, where: Route, live: dict[str, Alert]
    ) -> dict[str, Alert]:
        """The group's alerts with their numbers as of delivery (``refresh``); those whose
        condition passed meanwhile are withdrawn, as a resolution withdraws its alert."""
        if self.refresh is None:
            return live
        current = {identity: await self.refresh(alert, now) for identity, alert in live.items()}
        gone = {i: live[i] for i, alert in current.items() if alert is None}
        await self._drop(group, now, where, live, gone, "withdrawn", "no longer true at delivery")
        return {i: alert for i, alert in current.items() if alert is not None}

    async def _drop(
        self,
        group: str,
        now: datetime,
        where: Route,
        alerts: dict[str, Alert],
        dropped: dict[str, Alert],
        status: str,
        reason: str,
    ) -> dict[str, Alert]:
        """Finish ``dropped`` undelivered, audited with ``status``; the rest of ``alerts``."""
        if not dropped:
            return alerts
        await self.audit.record(now, status, where.recipient, dropped.values(), reason=reason)
        await self.outbox.finish(group, dropped, {}, now)
        return {i: a for i, a in alerts.items() if i not in dropped}

    def _overdue(self, alert: Alert, where: Route, now: datetime) -> bool:
        """True when an alert is ``max_age`` past the time the policy meant to deliver it."""
        meant = deliver_at(alert.raised_at + self.policy.group_wait, where, self.policy)
        return now - meant > self.policy.max_age

    def _channel_free_at(self, channel: str, now: datetime) -> datetime:
        last = self._last_post.get(channel)
        return now if last is None else max(now, last + self.policy.channel_interval)

    def _compose(self, alerts: dict[str, Alert], locale: str, zone: str) -> Composed:
        """One message for a recipient: the newest alerts that render and fit Slack's limits
        (at most ``MAX_ALERTS_PER_MESSAGE``), and a "+N more" line for the others."""
        texts: list[str] = []
        blocks: list[dict[str, Any]] = []
        included: dict[str, Alert] = {}
        broken: dict[str, Alert] = {}
        summarized: dict[str, Alert] = {}
        newest_first = sorted(alerts.items(), key=lambda item: item[1].raised_at, reverse=True)
        for identity, alert in newest_first:
            if len(included) == MAX_ALERTS_PER_MESSAGE:
                summarized[identity] = alert
                continue
            try:
                msg = self.render(alert, locale, zone)
            except Exception as exc:  # a user template can fail in any way Jinja can
                log.error("template %s failed for %s: %r", alert.template, identity, exc)
                broken[identity] = alert
                continue
            extra = ([{"type": "divider"}] if blocks else []) + blockkit.fit(msg.blocks)
            # One block stays free for the "+N more" line.
            if len(blocks) + len(extra) > blockkit.MAX_BLOCKS - 1:
                if blocks:
                    summarized[identity] = alert
                    continue
                extra = extra[: blockkit.MAX_BLOCKS - 1]
            blocks += extra
            texts.append(msg.text)
            included[identity] = alert
        if not included:
            return Composed(None, included, broken, summarized)
        if summarized:
            forms = labels(locale, self.templates_dir)["more_alerts"]
            more = forms["one"] if len(summarized) == 1 else forms["other"]
            line = more.replace("{n}", f"{len(summarized):,}")
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
            texts.append(line)
        text = blockkit.fit_text(" · ".join(texts), blockkit.MAX_MESSAGE_TEXT)
        return Composed(Message(text, blocks), included, broken, summarized)

    async def _summarized(
        self, group: str, now: datetime, where: Route, summarized: dict[str, Alert]
    ) -> None:
        """Alerts counted in a sent message's "+N more": done, and in the delivery log."""
        ttl = int(self.policy.repeat_interval.total_seconds())
        await self.outbox.finish(group, summarized, dict.fromkeys(summarized, ttl), now)
        await self.audit.record(
            now,
            "summarized",
            where.recipient,
            summarized.values(),
            channel=where.channel or "",
            reason=f"counted as +{len(summarized)} more in one message",
        )

    async def _token_failed(self, error: str) -> None:
        """Slack refused the token itself: /health fails and ops hear of it, once per change."""
        if self.slack_error == error:
            return
        self.slack_error = error
        log.critical(
            "Slack refused the bot token (%s): fix SPM_SLACK_TOKEN; notifications wait in the "
            "outbox meanwhile",
            error,
        )
        ops = self.policy.ops_channel
        if ops is not None and self.client is not None:
            text = (
                f":rotating_light: spm-stream cannot post to Slack: `{error}`. "
                "Check SPM_SLACK_TOKEN."
            )
            try:
                await self.client.chat_postMessage(channel=ops, text=text)
            except (TimeoutError, SlackApiError, aiohttp.ClientError, OSError) as exc:
                log.error("ops channel %s unreachable: %r", ops, exc)

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
        await self.audit.record(
            now, "retry", recipient, alerts.values(), reason=f"{reason}; next try {at.isoformat()}"
        )
        log.warning("delivery to %s failed (%s); retrying at %s", recipient, reason, at.isoformat())

    async def _undeliverable(
        self, now: datetime, recipient: str, alerts: Iterable[Alert], reason: str
    ) -> None:
        """Audit a message that cannot be delivered and tell the ops channel, best effort."""
        batch = list(alerts)
        await self.audit.record(now, "undeliverable", recipient, batch, reason=reason)
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
