"""`spm-stream rebuild`: the bulk path counts each event once, and the workers resume after."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AIOTopicPartition
from kafka import KafkaConsumer, TopicPartition

from agents.faust_compat import fetched_as
from spm_stream.config.scopes import ORG
from spm_stream.config.settings import Settings
from spm_stream.counting.ingest import Record, new_record
from spm_stream.store.redis_store import Store
from tests.fixtures import call_stream, produce, run_cli, wait_for_processed

pytestmark = pytest.mark.integration


def _spawn_rebuild(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "spm_stream", "rebuild", "--processes", "2", "--json"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the rebuild and its processes: one group to kill
    )


def _committed(settings: Settings) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id)
    try:
        return {
            p: consumer.committed(TopicPartition(settings.topic, p))
            for p in range(settings.partitions)
        }
    finally:
        consumer.close()


async def test_rebuild_counts_the_log_once_in_bulk_and_the_worker_carries_on(
    env: dict[str, str], settings: Settings, store: Store, start_worker
) -> None:
    records = call_stream("bulk", 3000, reps=12)
    produce(settings, records)
    done = run_cli(env, "rebuild", "--processes", "2", "--json", timeout_s=240)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["events"], summary["counted"], summary["processes"]) == (3000, 3000, 2)
    days = await store.rep_days("org", ORG, ["day:2026-11-02"])
    counted = {rep: acc["activity.call"] for rep, [(_, acc)] in days.items()}
    assert counted == {k.decode(): n for k, n in Counter(k for k, _ in records).items()}
    committed = _committed(settings)
    assert sum(c or 0 for c in committed.values()) == 3000  # the workers resume after it

    again = run_cli(env, "rebuild", "--processes", "2", "--json", timeout_s=240)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.strip().splitlines()[-1])["events"] == 0

    worker = start_worker()
    more = call_stream("bulk-live", 20, reps=12)
    produce(settings, more)
    stats = await wait_for_processed(store, 3020, worker)
    assert stats.counted == 3020  # nothing counted twice across the hand-over

    refused = run_cli(env, "rebuild", "--json", timeout_s=120)
    assert refused.returncode == 2
    assert "live member" in refused.stderr


async def test_a_rebuild_killed_midway_and_run_again_counts_every_event_once(
    env: dict[str, str], settings: Settings, store: Store
) -> None:
    total = 100_000  # ten fetches of each process: a kill lands midway however fast it runs
    records = call_stream("kill", total, reps=12)
    produce(settings, records)
    first = _spawn_rebuild(env)
    for _ in range(6000):
        processed = (await store.stats()).processed
        if processed > 0 or first.poll() is not None:
            break
        await asyncio.sleep(0.01)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    await asyncio.sleep(0.5)  # a script already sent runs to its end in Redis
    midway = (await store.stats()).processed
    assert 0 < midway < total, f"killed at {midway}: proved nothing"
    again = run_cli(env, "rebuild", "--processes", "2", "--json", timeout_s=240)
    assert again.returncode == 0, again.stderr
    stats = await store.stats()
    assert (stats.processed, stats.counted, stats.duplicates) == (total, total, 0)
    days = await store.rep_days("org", ORG, ["day:2026-11-02"])
    counted = {rep: acc["activity.call"] for rep, [(_, acc)] in days.items()}
    assert counted == {k.decode(): n for k, n in Counter(k for k, _ in records).items()}


def test_rebuild_shows_its_progress_and_says_what_it_did(
    env: dict[str, str], settings: Settings
) -> None:
    """Without --json: the progress bar (drawn before the plan's total is known) and one
    closing line; run again, one sentence that there is nothing to do."""
    produce(settings, call_stream("bar", 500, reps=4))
    done = run_cli(env, "rebuild", "--processes", "1", timeout_s=120)
    assert done.returncode == 0, done.stderr
    assert "rebuild" in done.stdout
    assert "500 events in" in done.stdout
    assert "500 counted, 0 duplicates, 0 to the DLQ" in done.stdout
    again = run_cli(env, "rebuild", timeout_s=120)
    assert again.returncode == 0, again.stderr
    assert "Nothing to rebuild: the store is already at the end of the log." in again.stdout


async def _fetch_all(settings: Settings, n: int) -> list[object]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        consumer.assign([AIOTopicPartition(settings.topic, p) for p in range(settings.partitions)])
        await consumer.seek_to_beginning()
        got: list[object] = []
        while len(got) < n:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                got += batch
        return got
    finally:
        await consumer.stop()


async def test_the_bulk_reader_gets_records_straight_from_aiokafka_and_only_while_hooked(
    settings: Settings,
) -> None:
    records = call_stream("hook", 20, reps=4)
    produce(settings, records)
    with fetched_as(new_record) as hooked:
        fetched = await _fetch_all(settings, 20)
    assert hooked  # the installed aiokafka has the hook (faust_compat.CHECKED_AGAINST)
    assert all(type(r) is Record for r in fetched)
    assert sorted((r.key, r.value) for r in fetched) == sorted(records)
    assert all(r.topic == settings.topic for r in fetched)
    assert {(r.partition, r.offset) for r in fetched} == {
        (r.partition, r.offset) for r in await _fetch_all(settings, 20)
    }
    assert all(type(r) is not Record for r in await _fetch_all(settings, 20))  # restored
