"""The counters agent: consumed batch → ingest stage → DLQ → one atomic Redis apply.

Thin by design: validation and planning are ``spm_stream.ingest``; exactly-once
effect is the store's Lua script. The order below is what makes a crash safe:
rejects are flushed to the DLQ before the Redis apply, and Faust acks (then
commits) the batch's offsets only after this body returns. A redelivered batch
is skipped by the partition watermark in Redis.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import faust
from redis.exceptions import RedisError

from agents.app import Runtime
from spm_stream.alerting import event_alerts
from spm_stream.alerts import Alert
from spm_stream.events import Event
from spm_stream.ingest import Record, ingest
from spm_stream.noshow import Watch, transition
from spm_stream.store import ApplyResult

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.counters")

_MAX_BACKOFF_S = 5.0


def register(app: faust.App, rt: Runtime) -> None:
    """Add the input and dead-letter topics and the counters agent to the app."""
    settings = rt.settings
    source = app.topic(settings.topic, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")
    routing = rt.routing
    within = settings.batch_window_ms / 1000
    directory = rt.directory
    rules = directory.alerts

    calendar_of = functools.lru_cache(maxsize=4096)(directory.calendar_of)

    def watch(event: Event) -> Watch | None:
        return transition(event, rules.no_show, calendar_of)

    def raise_alerts(event: Event) -> list[Alert]:
        return event_alerts(event, rules, directory.manager_of)

    @app.agent(source, name="counters")
    async def count_events(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, within=within):
            records = [_record(event.message) for event in events]
            result = ingest(
                records, keys=rt.store.keys, routing=routing, watch=watch, alerts=raise_alerts
            )
            for reject in result.rejects:
                log.warning(
                    "event rejected to %s: %s",
                    settings.dlq_topic,
                    reject.reason,
                    extra={"field": reject.field, "source": reject.source},
                )
                await dlq.send(
                    key=reject.record.key, value=reject.record.value, headers=reject.headers()
                )
            if result.rejects:
                # The DLQ must hold a reject before the watermark passes it.
                await app.producer.flush()
            applied = await _apply_until_done(rt, result.batches)
            # After the apply, from every delivery of the batch: at least once, and the
            # notifier's dedupe by alert identity makes it once.
            for alert in result.alerts:
                await alerts.send(key=alert.recipient.id.encode(), value=alert.dumps())
            if result.alerts:
                # In the topic before Faust acks the batch that raised them.
                await app.producer.flush()
            rt.alerts_raised += len(result.alerts)
            rt.consumed += len(records)
            rt.rejected += len(result.rejects)
            log.debug("batch applied: %s", applied)


def _record(message: Any) -> Record:
    return Record(message.topic, message.partition, message.offset, message.key, message.value)


async def _apply_until_done(rt: Runtime, batches: Any) -> ApplyResult:
    """Apply to Redis, retrying with backoff while Redis is away; never skip a batch."""
    delay = 0.1
    while True:
        try:
            return await rt.store.apply(batches)
        except (RedisError, OSError) as exc:
            rt.redis_retries += 1
            log.error("redis apply failed, retrying in %.1fs: %r", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
