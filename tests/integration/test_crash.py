"""A worker or its ingest process killed with SIGKILL mid-stream: nothing lost or counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from typing import Any

import pytest

from spm_stream.config.scopes import ORG
from spm_stream.config.settings import Settings
from spm_stream.store.redis_store import Store
from tests.fixtures import advance, assert_counted_once, call_stream, produce, wait_for_processed

pytestmark = pytest.mark.integration

TOTAL = 30_000


async def test_kill_9_mid_stream_then_restart(
    settings: Settings,
    store: Store,
    start_worker,
) -> None:
    records, first = await _worker_mid_stream(settings, store, start_worker, "k")
    first.kill9()
    assert (await store.stats()).processed < TOTAL, "finished before the kill: proved nothing"

    await _restart_counts_each_once(store, start_worker, records)
    days = await store.rep_days("org", ORG, ["day:2026-11-02"])
    assert {rep: acc["activity.call"] for rep, [(_, acc)] in days.items()} == {
        key.decode(): n for key, n in Counter(k for k, _ in records).items()
    }


async def _worker_mid_stream(
    settings: Settings, store: Store, start_worker: Any, tag: str
) -> tuple[list[tuple[bytes, bytes]], Any]:
    """TOTAL calls produced and a worker 2,000 events into them."""
    records = call_stream(tag, TOTAL, reps=12)
    produce(settings, records)
    # Small batches so the kill lands while most of the topic is still unread.
    worker = start_worker(SPM_BATCH_SIZE="200", SPM_BATCH_WINDOW_MS="20")
    await advance(store, 2_000, TOTAL, worker)
    return records, worker


async def _restart_counts_each_once(
    store: Store, start_worker: Any, records: list[tuple[bytes, bytes]]
) -> None:
    second = start_worker()
    await wait_for_processed(store, TOTAL, second)
    await asyncio.sleep(2)  # anything double-applied late would show up now
    # Redelivered offsets are caught by the watermark, not mistaken for CRM duplicates.
    await assert_counted_once(store, records)


async def test_kill_9_of_the_ingest_process_stops_the_worker_and_a_restart_loses_nothing(
    settings: Settings,
    store: Store,
    start_worker,
) -> None:
    records, first = await _worker_mid_stream(settings, store, start_worker, "c")
    (child,) = first.children("spm-ingest")
    os.kill(child, signal.SIGKILL)
    # The batch in flight was never acked: the worker must stop rather than go on without it.
    deadline = time.monotonic() + 30
    while first.alive() and time.monotonic() < deadline:  # noqa: ASYNC110 (a process, not a task)
        await asyncio.sleep(0.2)
    assert not first.alive(), f"worker kept running without its ingest process:\n{first.tail()}"
    assert "ingest process died" in first.tail(200)
    assert first.proc.returncode != 0, "a supervisor restarts on failure: the exit must say so"
    assert (await store.stats()).processed < TOTAL, "finished before the kill: proved nothing"

    await _restart_counts_each_once(store, start_worker, records)


async def test_inline_ingest_counts_the_same(
    settings: Settings,
    store: Store,
    start_worker,
) -> None:
    records = call_stream("i", 5_000, reps=12)
    produce(settings, records)
    worker = start_worker(SPM_INGEST_PROCESS="false")
    await wait_for_processed(store, len(records), worker)
    assert worker.children("spm-ingest") == [], "SPM_INGEST_PROCESS=false still spawned a child"
    await assert_counted_once(store, records)
