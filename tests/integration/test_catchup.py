"""Automatic catch-up: a worker assigned a backlog applies it in bulk, hands the partitions
to the live agent exactly where the bulk run stopped, and survives the faults of the live
path (a worker joining, kill -9, Redis restarted) with nothing lost or counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from kafka import KafkaConsumer, TopicPartition

from spm_stream.config.settings import Settings
from spm_stream.devtools.embedded import stop
from spm_stream.store.redis_store import Store
from tests.fixtures import (
    OwnKafka,
    OwnRedis,
    Worker,
    advance,
    assert_counted_once,
    call_stream,
    produce,
    survives_kafka_restart,
    wait_for,
    wait_for_processed,
)

pytestmark = pytest.mark.integration

#: Small enough to run in CI, large enough that every partition is far behind.
BACKLOG = 40_000
CATCHUP = {"SPM_CATCHUP_LAG": "1000", "SPM_CATCHUP_PROCESSES": "2"}
#: One bulk process: the catch-up lasts long enough for a fault to land in it.
ONE_PROCESS = CATCHUP | {"SPM_CATCHUP_PROCESSES": "1"}


async def _bulk_processes(worker: Worker) -> list[int]:
    """The worker's bulk processes, once its catch-up has spawned and named them."""
    await wait_for(lambda: worker.children("spm-bulk"), 60, "the catch-up to start", worker)
    return worker.children("spm-bulk")


async def _catching_up(
    tag: str, settings: Settings, start_worker: Callable[..., Worker], **env: str
) -> tuple[list[tuple[bytes, bytes]], Worker, list[int]]:
    """A backlog of 4 x BACKLOG calls, and a worker whose bulk processes are applying it."""
    records = call_stream(tag, 4 * BACKLOG, reps=12)
    produce(settings, records)
    worker = start_worker(**env)
    return records, worker, await _bulk_processes(worker)


def _alive(pids: list[int]) -> bool:
    return any(Path(f"/proc/{pid}").exists() for pid in pids)


async def _stats(worker: Worker) -> dict[str, int]:
    async with (
        aiohttp.ClientSession(headers=worker.auth) as http,
        http.get(worker.web + "/stats") as response,
    ):
        worker_stats: dict[str, int] = (await response.json())["worker"]
        return worker_stats


def _committed(settings: Settings) -> int:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id)
    try:
        return sum(
            consumer.committed(TopicPartition(settings.topic, p)) or 0
            for p in range(settings.partitions)
        )
    finally:
        consumer.close()


async def _watermarks(store: Store, settings: Settings) -> int:
    """Events applied, as the partition watermarks say (each is the last applied offset)."""
    return sum([await store.watermark(p) + 1 for p in range(settings.partitions)])


async def test_a_backlog_is_caught_up_in_bulk_and_the_live_agent_resumes_after_it(
    settings: Settings, store: Store, start_worker
) -> None:
    records = call_stream("cu", BACKLOG, reps=12)
    produce(settings, records)
    worker = start_worker(**CATCHUP)
    await wait_for_processed(store, BACKLOG, worker)
    await wait_for(lambda: "catch-up done" in worker.log.read_text(), 30, "the hand-over", worker)
    stats = await _stats(worker)
    assert stats["caught_up"] == BACKLOG  # all of it in bulk,
    assert stats["consumed"] == 0  # none through the live agent
    await wait_for(lambda: _committed(settings) == BACKLOG, 30, "the group's commit", worker)

    live = call_stream("cu-live", 300, reps=12)
    produce(settings, live)
    await wait_for_processed(store, BACKLOG + 300, worker)
    await asyncio.sleep(1)  # anything counted twice would show by now
    await assert_counted_once(store, records + live)
    stats = await _stats(worker)
    assert stats["consumed"] == 300  # the live agent started exactly after the bulk run
    assert not worker.children("spm-bulk")  # the bulk processes are gone


async def test_below_the_threshold_the_live_agent_takes_the_backlog(
    settings: Settings, store: Store, start_worker
) -> None:
    records = call_stream("lo", 2_000, reps=6)
    produce(settings, records)
    worker = start_worker(SPM_CATCHUP_LAG="100000")
    await wait_for_processed(store, 2_000, worker)
    await assert_counted_once(store, records)
    stats = await _stats(worker)
    assert (stats["caught_up"], stats["consumed"]) == (0, 2_000)


async def test_a_worker_joining_mid_catch_up_counts_nothing_twice(
    settings: Settings, store: Store, start_worker
) -> None:
    records, first, bulk = await _catching_up("join", settings, start_worker, **CATCHUP)
    total = len(records)
    # Frozen mid-catch-up (SIGSTOP), however fast this machine is: the second worker joins
    # while the first still owns every partition, and the revoke must kill them.
    for pid in bulk:
        os.kill(pid, signal.SIGSTOP)
    second = start_worker(**CATCHUP)
    await wait_for(
        lambda: "catch-up stopped (rebalance or shutdown)" in first.log.read_text(),
        60,
        "the revoke to stop the catch-up",
        first,
        second,
    )
    await wait_for(lambda: not _alive(bulk), 10, "the frozen bulk processes to be killed")
    await wait_for_processed(store, total, first, second, timeout_s=240)
    await asyncio.sleep(2)
    await assert_counted_once(store, records)
    caught = (await _stats(first))["caught_up"] + (await _stats(second))["caught_up"]
    assert caught > 0  # after the rebalance, each caught its own share up


async def test_a_worker_killed_mid_catch_up_leaves_no_bulk_process_and_a_new_one_finishes(
    settings: Settings, store: Store, start_worker
) -> None:
    records, first, bulk = await _catching_up("kill", settings, start_worker, **ONE_PROCESS)
    total = len(records)
    await advance(store, 10_000, total, first)
    first.kill9()
    await wait_for(lambda: not _alive(bulk), 10, "the bulk processes to die with their worker")
    second = start_worker(**CATCHUP)
    await wait_for_processed(store, total, second, timeout_s=240)
    await asyncio.sleep(2)
    await assert_counted_once(store, records)
    assert await _watermarks(store, settings) == total


async def test_redis_restarted_mid_catch_up_loses_and_double_counts_nothing(
    settings: Settings, start_worker, tmp_path: Path
) -> None:
    total = 4 * BACKLOG
    redis = OwnRedis(tmp_path)
    store = Store.from_settings(settings.model_copy(update={"redis_url": redis.url}))
    records = call_stream("rr", total, reps=8)
    produce(settings, records)
    worker = start_worker(SPM_REDIS_URL=redis.url, **ONE_PROCESS)
    try:
        await _bulk_processes(worker)
        await advance(store, 10_000, total, worker)
        redis.proc.kill()  # crash: SIGKILL mid-write
        redis.proc.wait()
        await asyncio.sleep(4)  # the bulk processes retry their batch meanwhile
        assert worker.alive(), worker.tail()
        redis.start()
        await wait_for_processed(store, total, worker, timeout_s=240)
        await asyncio.sleep(2)
        await assert_counted_once(store, records)
    finally:
        await store.close()
        worker.stop()
        stop(redis.proc)


async def test_kafka_stopped_and_started_mid_catch_up_loses_and_double_counts_nothing(
    own_kafka: OwnKafka, settings: Settings, store: Store, start_worker
) -> None:
    records = call_stream("kr", 4 * BACKLOG, reps=8)
    # One process: the catch-up is still running when the broker stops.
    await survives_kafka_restart(own_kafka, settings, store, start_worker, records, **ONE_PROCESS)
