"""Batches from a Faust stream that keep filling while the agent works on the last one.

``Stream.take_events`` (faust-streaming 0.15) stops its background iteration
while the agent body runs and acks the batch when the body asks for the next
one, so Faust's per-event work and the body's (validation, the Redis round trip)
run strictly one after the other. ``take_batches`` is the same buffer without
that pause: the stream is consumed in the background into the next batch while
the body handles this one, and the body acks the events itself, after their
effect is durable. Offsets are committed only up to acked events, so a crash
between delivery and ack redelivers the batch, exactly as with ``take_events``.

The window counts from a batch's first event (as a Kafka producer's linger
does), not from when the body asked: an event that arrived while the body
worked waits at most ``within`` in the buffer, not the body's time on top.

Built on the same Stream hooks ``take_events`` uses (a processor, passive
iteration, ``enable_acks``); ``tests/integration`` runs the worker on it against
a real broker, including kill -9 and rebalances.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

__all__ = ["ack_all", "take_batches"]


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
