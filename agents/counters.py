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

from agents.faust_compat import ack_all, take_batches
from agents.ingester import BatchOutcome, Ingester, IngestProcessDied, make_ingester
from agents.runtime import Runtime

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.counters")


def register(app: faust.App, rt: Runtime) -> None:
    """Add the counters agent on the input topic to the app."""
    ingester = make_ingester(rt.settings, rt.directory, rt.store)

    @app.on_before_shutdown.connect
    async def stop_ingester(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await ingester.close()

    @app.agent(rt.topics.source, name="counters")
    async def count_events(stream: Any) -> None:
        await count_batches(app, rt, ingester, stream)


async def count_batches(app: faust.App, rt: Runtime, ingester: Ingester, stream: Any) -> None:
    """The agent's body: batch, ingest, dead-letter and publish, ack; crash the app on an
    ingest failure so that no later batch moves the watermark past an unapplied one."""
    settings = rt.settings
    await ingester.start()  # a no-op when Faust restarts this body on a rebalance
    # Closed when the body returns (a crash included): the batch filling in the
    # background is dropped unacked, so Faust's shutdown does not wait for it.
    within = settings.batch_window_ms / 1000
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
            await _publish(app, rt, outcome)
            await ack_all(stream, events)
            rt.consumed += len(events)
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


async def _publish(app: faust.App, rt: Runtime, outcome: BatchOutcome) -> None:
    """A batch's rejects and alerts, in their topics before the batch is acked."""
    for reject in outcome.rejects:
        log.warning(
            "event rejected to %s: %s",
            rt.settings.dlq_topic,
            reject.reason,
            extra={"field": reject.field, "source": reject.source},
        )
        await rt.topics.dlq.send(
            key=reject.record.key, value=reject.record.value, headers=reject.headers()
        )
    for alert in outcome.alerts:
        await rt.topics.alerts.send(key=alert.partition_key, value=alert.dumps())
    if outcome.rejects or outcome.alerts:
        await app.producer.flush()
    rt.alerts_raised += len(outcome.alerts)
    rt.rejected += len(outcome.rejects)
    rt.redis_retries += outcome.redis_retries
