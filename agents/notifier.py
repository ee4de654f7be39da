"""The notifier agent: alerts topic → policy stages → Redis outbox; the leader delivers.

Alerts are accepted a batch at a time (a fixed number of Redis round trips per
batch). Accepting is idempotent (the outbox and the delivery log deduplicate by
alert identity), so acking after ``accept_many`` makes a crash at any point safe.
Delivery runs on the leader only, so a channel's pacing is decided in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from redis.exceptions import RedisError

from agents.faust_compat import ack_all, take_batches
from agents.runtime import Runtime
from notifications.notifier import Notifier
from notifications.slack import make_client
from notifications.state import NotifyState
from spm_stream.rules.alerts import Alert
from spm_stream.rules.engine import RulesEngine
from spm_stream.store.redis_store import until_redis_answers

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.notifier")


def register(app: faust.App, rt: Runtime) -> Notifier:
    """Add the alerts agent and, with a Slack token, the delivery timer."""
    settings = rt.settings
    client = make_client(settings, outbox=True) if settings.slack_token is not None else None

    async def nothing_to_publish(alerts: Sequence[Alert]) -> None:
        return None

    # The engine reads alerts again at delivery; its own rules run in the rules process.
    engine = RulesEngine(rt.store, rt.directory, rt.targets, nothing_to_publish)
    notifier = Notifier(
        NotifyState.on(rt.store.redis, settings.redis_prefix),
        client,
        rt.directory,
        settings.templates_dir,
        refresh=engine.current,
    )

    @app.agent(rt.topics.alerts, name="notifier")
    async def accept_alerts(stream: Any) -> None:
        await accept_batches(rt, notifier, stream)

    if client is None:
        log.warning("SPM_SLACK_TOKEN not set: alerts are queued in the outbox but not delivered")
        return notifier

    @app.timer(settings.notify_interval_s, on_leader=True, name="deliver-notifications")
    async def deliver() -> None:
        await deliver_round(rt, notifier)

    return notifier


async def accept_batches(rt: Runtime, notifier: Notifier, stream: Any) -> None:
    """The agent's body: alerts in batches into the outbox, acked once they are there."""
    settings = rt.settings
    within = settings.batch_window_ms / 1000
    async for events in take_batches(stream, settings.batch_size, within):
        alerts = []
        for event in events:
            try:
                alerts.append(Alert.loads(event.value))
            except ValueError as exc:
                log.error("malformed alert skipped: %s", exc)

        async def accept_now(alerts: list[Alert] = alerts) -> list[str]:
            return await notifier.accept_many(alerts, datetime.now(UTC))  # `now` of each try

        # Redis away: wait for it; acking without the outbox would lose alerts.
        statuses, _ = await until_redis_answers(accept_now, "outbox unreachable")
        await ack_all(stream, events)
        if log.isEnabledFor(logging.DEBUG):
            for alert, status in zip(alerts, statuses, strict=True):
                log.debug("alert %s: %s", alert.identity, status)


async def deliver_round(rt: Runtime, notifier: Notifier) -> None:
    """The leader's delivery tick: every due outbox group to Slack; the next tick retries."""
    try:
        done = await notifier.deliver_due(datetime.now(UTC))
    except (RedisError, OSError) as exc:
        log.error("delivery tick failed, the next one retries: %r", exc)
        return
    rt.notifications_sent += done.sent
    if done.sent or done.retried:
        log.info(
            "notifications: %d sent, %d retried, %d dropped",
            done.sent,
            done.retried,
            done.dropped,
        )
