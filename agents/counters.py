"""The counters agent: consumed batch → ingest and apply (``agents.ingester``) → DLQ, alerts → ack.

Thin by design: validation and planning are ``spm_stream.counting.ingest``; exactly-once
effect is the store's Lua script; both run in the ingest process. The batch is
acked (so Faust may commit its offsets) only after the apply, and after its
rejects and alerts are in their topics. A crash anywhere before the ack
redelivers the batch: the partition watermark in Redis skips what was applied,
and the rejects and alerts are sent again (the DLQ is at-least-once, the
notifier dedupes alerts by identity). While the ingest process works, the
stream keeps filling the next batch (``take_batches``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import faust

from agents.app import Runtime
from agents.batching import ack_all, take_batches
from agents.ingester import IngestProcessDied, make_ingester

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.counters")


def register(app: faust.App, rt: Runtime) -> None:
    """Add the input and dead-letter topics and the counters agent to the app."""
    settings = rt.settings
    source = app.topic(settings.topic, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    alerts = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw")
    within = settings.batch_window_ms / 1000
    ingester = make_ingester(settings, rt.directory, rt.store)

    @app.on_before_shutdown.connect
    async def stop_ingester(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await ingester.close()

    @app.agent(source, name="counters")
    async def count_events(stream: Any) -> None:
        await ingester.start()  # a no-op when Faust restarts this body on a rebalance
        # Closed when the body returns (a crash included): the batch filling in the
        # background is dropped unacked, so Faust's shutdown does not wait for it.
        batches = contextlib.aclosing(take_batches(stream, settings.batch_size, within))
        died: Exception | None = None
        async with batches as batched:
            async for events in batched:
                raw = [(m.partition, m.offset, m.key, m.value) for m in (e.message for e in events)]
                try:
                    outcome = await ingester(raw)
                except Exception as exc:
                    # Bad events are dead-lettered inside the ingest; what reaches here is
                    # the process or a bug. Going on would let later batches move the
                    # watermark past this one: stop instead, and it is redelivered.
                    what = "died" if isinstance(exc, IngestProcessDied) else "failed"
                    log.critical("ingest process %s; stopping the worker", what, exc_info=True)
                    died = exc
                    break
                for reject in outcome.rejects:
                    log.warning(
                        "event rejected to %s: %s",
                        settings.dlq_topic,
                        reject.reason,
                        extra={"field": reject.field, "source": reject.source},
                    )
                    await dlq.send(
                        key=reject.record.key, value=reject.record.value, headers=reject.headers()
                    )
                for alert in outcome.alerts:
                    await alerts.send(key=alert.partition_key, value=alert.dumps())
                if outcome.rejects or outcome.alerts:
                    # In their topics before the batch that produced them is acked.
                    await app.producer.flush()
                await ack_all(stream, events)
                rt.alerts_raised += len(outcome.alerts)
                rt.consumed += len(events)
                rt.rejected += len(outcome.rejects)
                rt.redis_retries += outcome.redis_retries
                log.debug("batch applied: %s", outcome.applied)
        if died is not None:
            # Nothing of the batch is acked, and nothing references it any more: Faust's
            # shutdown (which waits for referenced unacked events) goes ahead, and Kafka
            # redelivers the batch to a fresh worker.
            events = []
            try:
                raise died  # Faust logs the crash with sys.exc_info(): give it the traceback
            except Exception as exc:
                await app.crash(exc)
