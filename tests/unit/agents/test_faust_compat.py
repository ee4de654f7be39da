"""``take_batches``: the linger window counts from a batch's first event, full batches
go at once, and the buffer never holds more than a batch. ``fetched_as``: installed and
undone, or left out on an aiokafka without its hook.

Run on Faust's own agent test harness (``Agent.test_context``: the agent's stream
reads an in-memory channel, no broker is contacted); the integration tests run the
same code on a real Kafka broker, kill -9 and rebalances included.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
import pytest
from aiokafka.consumer.fetcher import PartitionRecords

from agents.faust_compat import ack_all, fetched_as, take_batches

WITHIN = 0.3  # the linger window, s
BUSY = 0.3  # how long the body works on each batch, s


def _app_with_batching_agent(max_: int) -> tuple[Any, list[tuple[float, list[int]]]]:
    """An agent that records each batch with when it got it, then works ``BUSY`` s."""
    # Never contacted: test_context feeds the agent from an in-memory channel.
    app = faust.App("spm-test-batching", broker="kafka://127.0.0.1:1", store="memory://")
    got: list[tuple[float, list[int]]] = []

    @app.agent(app.channel())
    async def body(stream: Any) -> None:
        async for events in take_batches(stream, max_, WITHIN):
            got.append((time.monotonic(), [event.value for event in events]))
            await asyncio.sleep(BUSY)
            await ack_all(stream, events)

    return body, got


def test_an_event_arriving_while_the_body_works_waits_one_window_from_its_arrival() -> None:
    async def scenario() -> tuple[float, float, list[tuple[float, list[int]]]]:
        agent, got = _app_with_batching_agent(max_=100)
        async with agent.test_context() as ctx:
            start = time.monotonic()
            await ctx.put(1)
            await asyncio.sleep(WITHIN + 0.05)  # batch [1] taken; the body is busy
            second_at = time.monotonic()
            await ctx.put(2)
            await asyncio.sleep(WITHIN + BUSY + 0.2)
        return start, second_at, got

    start, second_at, got = asyncio.run(scenario())
    assert [values for _, values in got] == [[1], [2]]
    first_taken, second_taken = got[0][0], got[1][0]
    assert WITHIN <= first_taken - start < WITHIN + 0.15
    # From its own arrival, not from when the body asked again: that would be
    # first_taken + BUSY + WITHIN, i.e. ~0.25 s later than this.
    assert second_taken - second_at < WITHIN + 0.1
    assert second_taken >= first_taken + BUSY  # one batch at a time


def test_a_full_batch_goes_at_once_and_the_buffer_holds_at_most_one_batch() -> None:
    async def scenario() -> tuple[float, list[tuple[float, list[int]]]]:
        agent, got = _app_with_batching_agent(max_=5)
        async with agent.test_context() as ctx:
            start = time.monotonic()
            for value in range(12):
                await ctx.put(value)
            await asyncio.sleep(2 * BUSY + WITHIN + 0.3)
        return start, got

    start, got = asyncio.run(scenario())
    batches = [values for _, values in got]
    assert batches == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert got[0][0] - start < WITHIN / 2  # full: no wait for the window
    # The second batch filled while the body worked on the first: taken as soon as
    # the body asked. The last two waited their window from when they got in.
    assert got[1][0] - got[0][0] < BUSY + 0.1
    assert got[2][0] - got[1][0] >= BUSY


def test_an_aiokafka_without_the_record_hook_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The bulk reader then builds its records from aiokafka's own (``bulk._as_records``)."""
    monkeypatch.delattr(PartitionRecords, "_consumer_record")
    with fetched_as(tuple) as hooked:
        assert not hooked
        assert not hasattr(PartitionRecords, "_consumer_record")
    assert "no record hook" in caplog.text


def test_the_record_hook_is_undone_on_exit() -> None:
    before = PartitionRecords._consumer_record
    with fetched_as(tuple) as hooked:
        assert hooked
        assert PartitionRecords._consumer_record is not before
    assert PartitionRecords._consumer_record is before
