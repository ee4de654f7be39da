"""Redis restarted mid-stream (gracefully, then killed with -9): the worker waits and retries,
and with AOF fsync per write nothing is lost or double-counted."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from spm_stream.embedded import free_port, redis_server_binary, spawn, stop, wait_for_port
from spm_stream.settings import Settings
from spm_stream.store import Store
from tests.events import event
from tests.integration.conftest import produce, wait_for_processed

pytestmark = pytest.mark.integration

TOTAL = 60_000


class OwnRedis:
    """A Redis server of this test's own, with AOF, that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = spawn(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            self.workdir / "redis.log",
        )
        wait_for_port(self.port, "test redis")


async def _advance(store: Store, by: int, worker) -> int:
    target = (await store.stats()).processed + by
    while (processed := (await store.stats()).processed) < target:
        assert worker.alive(), worker.tail()
        await asyncio.sleep(0.05)
    assert processed < TOTAL, "the stream ended before the fault: proved nothing"
    return processed


async def test_redis_restarts_lose_and_double_count_nothing(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    redis = OwnRedis(tmp_path)
    store = Store.from_settings(settings.model_copy(update={"redis_url": redis.url}))
    reps = [f"rep-{i}" for i in range(1, 9)]
    produce(
        settings, [(reps[i % 8].encode(), event(f"x-{i}", rep=reps[i % 8])) for i in range(TOTAL)]
    )
    worker = start_worker(SPM_REDIS_URL=redis.url, SPM_BATCH_SIZE="200", SPM_BATCH_WINDOW_MS="20")
    try:
        await _advance(store, 5_000, worker)
        stop(redis.proc)  # graceful: SIGTERM, AOF flushed
        await asyncio.sleep(2)  # the worker keeps retrying its batch meanwhile
        assert worker.alive(), worker.tail()
        redis.start()
        await _advance(store, 5_000, worker)
        redis.proc.kill()  # crash: SIGKILL mid-write
        redis.proc.wait()
        # Longer than the client's own retries (about 2.5 s): the agent's retry loop takes over.
        await asyncio.sleep(8)
        assert worker.alive(), worker.tail()
        redis.start()
        stats = await wait_for_processed(store, TOTAL, worker)
        assert (stats.counted, stats.duplicates, stats.rejected) == (TOTAL, 0, 0)
        expected = Counter(reps[i % 8] for i in range(TOTAL))
        for rep, n in expected.items():
            assert (await store.counts("rep", rep, "day:2026-11-02"))["activity.call"] == n
        assert "redis apply failed, retrying" in worker.log.read_text()
    finally:
        await store.close()
        worker.stop()
        stop(redis.proc)
