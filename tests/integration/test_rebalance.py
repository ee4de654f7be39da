"""Partitions move between workers mid-stream (1 → 2 → 1): nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from spm_stream.settings import Settings
from spm_stream.store import Store
from tests.events import event
from tests.integration.conftest import produce, wait_for_processed

pytestmark = pytest.mark.integration

TOTAL = 80_000


async def _processed(store: Store) -> int:
    return (await store.stats()).processed


async def test_scale_out_and_back_in_mid_stream(
    settings: Settings, store: Store, start_worker
) -> None:
    reps = [f"rep-{i}" for i in range(1, 17)]
    records = [(reps[i % 16].encode(), event(f"r-{i}", rep=reps[i % 16])) for i in range(TOTAL)]
    produce(settings, records)
    slow = {"SPM_BATCH_SIZE": "200", "SPM_BATCH_WINDOW_MS": "20"}

    first = start_worker(**slow)
    while await _processed(store) < 3_000:
        assert first.alive(), first.tail()
        await asyncio.sleep(0.05)
    second = start_worker(**slow)  # rebalance: partitions split between two workers
    deadline = asyncio.get_running_loop().time() + 90
    while await second.consumed() == 0:
        assert first.alive(), first.tail()
        assert second.alive(), second.tail()
        assert asyncio.get_running_loop().time() < deadline, "no rebalance within 90 s"
        await asyncio.sleep(0.2)
    shared_at = await _processed(store)
    assert shared_at < TOTAL, "the stream ended before the second worker joined: proved nothing"
    while await _processed(store) < min(shared_at + 5_000, TOTAL - 5_000):
        assert second.alive(), second.tail()
        await asyncio.sleep(0.05)
    assert second.stop() == 0  # graceful leave: its partitions move back to the first
    assert await _processed(store) < TOTAL, "finished before scaling back in: proved nothing"

    stats = await wait_for_processed(store, TOTAL, first)
    await asyncio.sleep(2)
    stats = await store.stats()
    assert (stats.processed, stats.counted, stats.duplicates) == (TOTAL, TOTAL, 0)
    expected = Counter(reps[i % 16] for i in range(TOTAL))
    for rep, n in expected.items():
        assert (await store.counts("rep", rep, "day:2026-11-02"))["activity.call"] == n
