"""A worker killed with SIGKILL mid-stream and restarted loses nothing and counts nothing twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from spm_stream.settings import Settings
from spm_stream.store import Store
from tests.events import event
from tests.integration.conftest import produce, wait_for_processed

pytestmark = pytest.mark.integration

TOTAL = 30_000


async def test_kill_9_mid_stream_then_restart(
    settings: Settings,
    store: Store,
    start_worker,
) -> None:
    reps = [f"rep-{i}" for i in range(1, 13)]
    records = [(reps[i % 12].encode(), event(f"k-{i}", rep=reps[i % 12])) for i in range(TOTAL)]
    expected = Counter(reps[i % 12] for i in range(TOTAL))
    produce(settings, records)

    # Small batches so the kill lands while most of the topic is still unread.
    first = start_worker(SPM_BATCH_SIZE="200", SPM_BATCH_WINDOW_MS="20")
    while (await store.stats()).processed < 2_000:
        assert first.alive(), first.tail()
        await asyncio.sleep(0.05)
    first.kill9()
    at_kill = (await store.stats()).processed
    assert at_kill < TOTAL, "the worker finished before it was killed: the test proved nothing"

    second = start_worker()
    stats = await wait_for_processed(store, TOTAL, second)
    await asyncio.sleep(2)  # anything double-applied late would show up now
    stats = await store.stats()
    assert stats.processed == TOTAL
    # Redelivered offsets are caught by the watermark, not mistaken for CRM duplicates.
    assert (stats.counted, stats.duplicates, stats.rejected) == (TOTAL, 0, 0)
    for rep, n in expected.items():
        assert (await store.counts("rep", rep, "day:2026-11-02")) == {"activity.call": n}
    board = await store.board("calls", "org", "all", "day:2026-11-02")
    assert {e.rep_id: e.score for e in board} == {rep: float(n) for rep, n in expected.items()}
