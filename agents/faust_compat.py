"""Every private Faust and aiokafka API spm-stream touches, in one place.

Checked against faust-streaming 0.15.3 and aiokafka 0.14.0 (``CHECKED_AGAINST``;
the worker logs a warning at start-up on other versions). An upgrade reviews
this module and runs ``tests/integration`` (kill -9, rebalances, restarts).

- ``take_batches``: batches that keep filling while the agent works. ``Stream.take_events``
  (faust-streaming 0.15) stops its background iteration while the agent body runs and acks
  the batch when the body asks for the next one, so Faust's per-event work and the body's
  (validation, the Redis round trip) run strictly one after the other. ``take_batches`` is
  the same buffer without that pause: the stream is consumed in the background into the
  next batch while the body handles this one, and the body acks the events itself, after
  their effect is durable. Offsets are committed only up to acked events, so a crash
  between delivery and ack redelivers the batch, exactly as with ``take_events``. The
  window counts from a batch's first event (as a Kafka producer's linger does). Private:
  ``Stream._enable_passive``, ``Stream._processors``.
- ``consumer_class``: Faust's aiokafka consumer with a short ``fetch.max.wait.ms``.
  aiokafka keeps one fetch in flight per broker, and leaves out of the next fetch every
  partition whose last fetched records are still being consumed. So while the worker
  works through a large fetch of the input topic, the next fetch may carry only idle
  partitions, which the broker holds for ``fetch.max.wait.ms``; faust-streaming
  hard-codes 1,500 ms there, and the stall sustains itself (BENCHMARKS.md, "The fetch
  that waited for idle partitions"). Private: ``AIOKafkaConsumerThread._create_worker_
  consumer``, ``Consumer._new_consumer_thread``, ``AIOKafkaConsumer._fetch_max_wait_ms``.
- ``PerEventQuietMonitor``: Faust's Monitor without its per-event bookkeeping (public
  hooks of a sensor, overridden to do nothing).
- ``commit_offsets``: commit offsets no event was acked for (an automatic catch-up applied
  them in bulk) through the worker's own group membership, and tell Faust, whose
  ``_new_offset`` otherwise refuses to commit past a gap at the head of its acked offsets.
  Private: ``Consumer._commit_offsets`` (it updates ``_committed_offset``).
- ``fetched_as``: while it is entered, aiokafka's fetcher hands out each fetched record as
  ``make((topic, partition, offset, key, value))`` instead of its ``ConsumerRecord``, a
  dataclass of eleven fields built per record that the bulk path only unpacked again:
  about 0.9 µs of a rebuild process's CPU per event (BENCHMARKS.md). Process-wide, for
  consumers without deserializers; the bulk processes use it, the worker does not.
  Private: ``aiokafka.consumer.fetcher.PartitionRecords._consumer_record``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import aiokafka
from aiokafka.consumer.fetcher import PartitionRecords
from faust.sensors import Monitor
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP

__all__ = [
    "CHECKED_AGAINST",
    "PerEventQuietMonitor",
    "ack_all",
    "commit_offsets",
    "consumer_class",
    "fetched_as",
    "take_batches",
    "unchecked_versions",
]

log = logging.getLogger("spm_stream.agents.faust_compat")

#: The versions whose private APIs this module was read against.
CHECKED_AGAINST: Final = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


def unchecked_versions() -> list[str]:
    """Installed versions that differ from ``CHECKED_AGAINST``, as "name a.b.c (checked x.y.z)"."""
    found = []
    for name, checked in CHECKED_AGAINST.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if installed != checked:
            found.append(f"{name} {installed} (checked {checked})")
    return found


async def take_batches(stream: Any, max_: int, within: float) -> AsyncGenerator[list[Any], None]:
    """Yield up to ``max_`` events at a time, at most ``within`` seconds after the first
    of them arrived; the caller must ack each batch (``ack_all``) once it is applied."""
    buffer: list[Any] = []
    full = asyncio.Event()
    room = asyncio.Event()
    room.set()
    clock = asyncio.get_running_loop().time
    first_at = 0.0

    async def add_to_buffer(value: Any) -> Any:
        nonlocal first_at
        event = stream.current_event
        if event is None:
            raise RuntimeError("take_batches: stream has no current event")
        if not buffer:
            first_at = clock()
        buffer.append(event)
        if len(buffer) >= max_:
            # Bounded memory: the background iteration waits for the body to take it.
            full.set()
            room.clear()
            await stream.wait(room)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # the caller acks, after the batch's effect is durable
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            left = within - (clock() - first_at) if buffer else within
            if left > 0:
                await stream.wait_for_stopped(full, timeout=left)
            if buffer:
                batch = buffer[:]
                buffer.clear()
                full.clear()
                room.set()
                yield batch
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)


async def ack_all(stream: Any, events: Sequence[Any]) -> None:
    """Ack a batch: Faust may now commit past it."""
    for event in events:
        await stream.ack(event)


def consumer_class(fetch_max_wait_ms: int) -> type[AIOKafkaConsumer]:
    """Faust's aiokafka consumer, with this ``fetch.max.wait.ms`` instead of 1,500."""

    class ConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
            consumer = super()._create_worker_consumer(transport)
            # Read by AIOKafkaConsumer.start() when it builds its fetcher; Faust
            # passes a literal to the constructor, so this is the only way in.
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class Consumer(AIOKafkaConsumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    return Consumer


class PerEventQuietMonitor(Monitor):
    """Faust's Monitor without its per-event bookkeeping (the default; SPM_FAUST_EVENT_STATS).

    The Monitor updates counters and timing deques on every message and stream
    event; our own /stats and the store's totals already say what a worker did.
    Commit, send, rebalance and web statistics are kept.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None


async def commit_offsets(app: Any, offsets: Mapping[int, int], topic: str) -> bool:
    """Commit ``{partition: next offset}`` of ``topic`` as this worker's group member; Faust
    resumes those partitions there (its recovery seeks to the committed offsets)."""
    committable = {TP(topic, partition): offset for partition, offset in offsets.items()}
    done: bool = await app.consumer._commit_offsets(committable)
    return done


@contextlib.contextmanager
def fetched_as(make: Callable[[tuple[str, int, int, Any, Any]], Any]) -> Iterator[bool]:
    """While entered, aiokafka's consumers in this process return each fetched record as
    ``make((topic, partition, offset, key, value))``; yields False, changing nothing, when
    the installed aiokafka has no such hook (its ``ConsumerRecord``s come as before)."""
    hook = getattr(PartitionRecords, "_consumer_record", None)
    if hook is None or list(inspect.signature(hook).parameters) != ["self", "tp", "record"]:
        log.warning(
            "aiokafka %s: no record hook, bulk reads build ConsumerRecords", aiokafka.__version__
        )
        yield False
        return

    def record(self: Any, tp: Any, record: Any) -> Any:
        return make((tp.topic, tp.partition, record.offset, record.key, record.value))

    PartitionRecords._consumer_record = record
    try:
        yield True
    finally:
        PartitionRecords._consumer_record = hook
