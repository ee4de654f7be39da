"""Redis restarted mid-stream (gracefully, then killed with -9): the worker waits and retries,
and with AOF fsync per write nothing is lost or double-counted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from spm_stream.config.settings import Settings
from spm_stream.devtools.embedded import stop
from spm_stream.store.redis_store import Store
from tests.fixtures import (
    OwnRedis,
    advance,
    assert_counted_once,
    call_stream,
    produce,
    wait_for_processed,
)

pytestmark = pytest.mark.integration

TOTAL = 60_000


async def test_redis_restarts_lose_and_double_count_nothing(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    redis = OwnRedis(tmp_path)
    store = Store.from_settings(settings.model_copy(update={"redis_url": redis.url}))
    records = call_stream("x", TOTAL, reps=8)
    produce(settings, records)
    worker = start_worker(SPM_REDIS_URL=redis.url, SPM_BATCH_SIZE="200", SPM_BATCH_WINDOW_MS="20")
    try:
        await advance(store, 5_000, TOTAL, worker)
        stop(redis.proc)  # graceful: SIGTERM, AOF flushed
        await asyncio.sleep(2)  # the worker keeps retrying its batch meanwhile
        assert worker.alive(), worker.tail()
        redis.start()
        await advance(store, 5_000, TOTAL, worker)
        redis.proc.kill()  # crash: SIGKILL mid-write
        redis.proc.wait()
        # Longer than the client's own retries (about 2.5 s): the agent's retry loop takes over.
        await asyncio.sleep(8)
        assert worker.alive(), worker.tail()
        redis.start()
        await wait_for_processed(store, TOTAL, worker)
        await assert_counted_once(store, records)
        assert "redis apply failed, retrying" in worker.log.read_text()
    finally:
        await store.close()
        worker.stop()
        stop(redis.proc)
