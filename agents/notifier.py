"""The notifier agent: alerts topic → policy stages → Redis outbox; the leader delivers.

Accepting is idempotent (the outbox and the delivery log deduplicate by alert
identity), so Faust acking after ``accept`` makes a crash at any point safe.
Delivery runs on the leader only, so a channel's pacing is decided in one place.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import faust
from redis.exceptions import RedisError

from agents.app import Runtime
from notifications.notifier import Notifier
from notifications.outbox import Outbox
from notifications.slack import make_client
from spm_stream.alerts import Alert

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.notifier")


def register(app: faust.App, rt: Runtime) -> Notifier:
    """Add the alerts agent and, with a Slack token, the delivery timer."""
    settings = rt.settings
    client = make_client(settings, outbox=True) if settings.slack_token is not None else None
    notifier = Notifier(
        Outbox(rt.store.redis, settings.redis_prefix), client, rt.directory, settings.templates_dir
    )
    topic = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")

    @app.agent(topic, name="notifier")
    async def accept_alerts(stream: Any) -> None:
        async for value in stream:
            try:
                alert = Alert.loads(value)
            except ValueError as exc:
                log.error("malformed alert skipped: %s", exc)
                continue
            delay = 0.1
            while True:  # Redis away: wait for it; acking without the outbox would lose the alert
                try:
                    status = await notifier.accept(alert, datetime.now(UTC))
                    break
                except (RedisError, OSError) as exc:
                    log.error("outbox unreachable, retrying in %.1fs: %r", delay, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            log.debug("alert %s: %s", alert.identity, status)

    if client is None:
        log.warning("SPM_SLACK_TOKEN not set: alerts are queued in the outbox but not delivered")
        return notifier

    @app.timer(settings.notify_interval_s, on_leader=True, name="deliver-notifications")
    async def deliver() -> None:
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

    return notifier
