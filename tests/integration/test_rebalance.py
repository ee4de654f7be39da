"""Partitions move between workers mid-stream (1 → 2 → 1): nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio

import pytest

from spm_stream.config.settings import Settings
from spm_stream.store.redis_store import Store
from tests.fixtures import advance, assert_counted_once, call_stream, produce, wait_for_processed

pytestmark = pytest.mark.integration

TOTAL = 80_000


async def test_scale_out_and_back_in_mid_stream(
    settings: Settings, store: Store, start_worker
) -> None:
    records = call_stream("r", TOTAL, reps=16)
    produce(settings, records)
    slow = {"SPM_BATCH_SIZE": "200", "SPM_BATCH_WINDOW_MS": "20"}

    first = start_worker(**slow)
    await advance(store, 3_000, TOTAL, first)
    second = start_worker(**slow)  # rebalance: partitions split between two workers
    deadline = asyncio.get_running_loop().time() + 90
    while await second.consumed() == 0:
        assert first.alive(), first.tail()
        assert second.alive(), second.tail()
        assert asyncio.get_running_loop().time() < deadline, "no rebalance within 90 s"
        await asyncio.sleep(0.2)
    await advance(store, 5_000, TOTAL, first, second)  # both share the stream for a while
    assert second.stop() == 0  # graceful leave: its partitions move back to the first
    assert (await store.stats()).processed < TOTAL, "finished before scaling in: proved nothing"

    await wait_for_processed(store, TOTAL, first)
    await asyncio.sleep(2)
    await assert_counted_once(store, records)
