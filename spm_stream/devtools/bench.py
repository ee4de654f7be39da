"""`spm-stream bench`: pipeline throughput and latency against reference points, in one run.

On one topic of N generated events it measures, in this order:
  1. the raw ceiling: a plain aiokafka consumer with ``getmany`` that decodes each
     event's JSON and does nothing else;
  2. a Faust agent that iterates the stream and does nothing (``agents.noop``);
  3. the full pipeline: W ``spm-stream worker`` processes until every counter,
     KPI accumulator and leaderboard in Redis reflects all N events;
  (with ``rounds`` > 1, steps 2 and 3 alternate that many times, each round on a
  fresh consumer group and key prefix, and the medians are reported: on a shared
  machine one minute differs from the next by more than the effect measured;)
  4. produce→visible latency at a fixed offered load: each event's partition and
     offset come from the broker's ack, and it is visible once that partition's
     watermark in Redis reaches it;
  5. (unless ``rebuild`` is empty) ``spm-stream rebuild`` with 1 and 2 processes, each
     into fresh keys and a fresh consumer group, timed like the ceiling (connected and
     positioned to done), with where its time goes: the rebuild processes' own stage
     times and Redis's time in the Lua apply (``INFO commandstats``), per event.
Start-up (group join, first fetch) is excluded from every rate: each clock
starts at the first batch seen and the events of that batch are not counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer
from kafka.errors import KafkaError
from redis import Redis as SyncRedis
from redis.exceptions import RedisError

from spm_stream.config.settings import Settings, load_settings
from spm_stream.devtools.embedded import (
    EMBEDDED_SESSION_TIMEOUT_S,
    embedded_services,
    free_port,
    spawn,
    stop,
)
from spm_stream.devtools.generator import Generator
from spm_stream.ingestion.replay import produce
from spm_stream.ingestion.topics import delete_topics_with_prefix, ensure_topics
from spm_stream.store.redis_store import Store

__all__ = ["BenchOptions", "clean_up", "measure_rebuild", "run_bench", "scratch_settings"]

log = logging.getLogger("spm_stream.devtools.bench")


@dataclass(frozen=True)
class BenchOptions:
    """What to measure."""

    events: int = 200_000
    workers: int = 1
    latency_rate: float = 2000.0
    latency_seconds: float = 10.0
    rounds: int = 1
    timeout_s: float = 900.0
    keep: bool = False  # leave the run's topics and Redis keys on external services
    rebuild: tuple[int, ...] = (1, 2)  # process counts of the rebuild runs; () skips them


def scratch_settings(name: str) -> Settings:
    """Settings of a run of its own: new topics, consumer group and key prefix, all named
    "<name>-<random tag>" (``clean_up`` deletes them by that prefix)."""
    tag = f"{name}-{uuid.uuid4().hex[:6]}"
    return load_settings(
        topic=tag,
        dlq_topic=f"{tag}-dlq",
        alerts_topic=f"{tag}-alerts",
        app_id=tag,
        redis_prefix=tag,
    )


def _generate(n: int) -> list[tuple[bytes, bytes]]:
    gen = Generator(teams=4, reps_per_team=10, seed=3)
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    step = timedelta(days=5) / max(n, 1)
    records = gen.hires(start)
    while len(records) < n:
        records.extend(gen.records(start + step * len(records)))
    return records[:n]


async def _ceiling(settings: Settings, n: int) -> float:
    """Events/s of a plain aiokafka consumer that decodes JSON and nothing else."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(settings.topic, p) for p in range(settings.partitions)])
        await consumer.seek_to_beginning()
        # Connected, assigned and positioned: the clock starts at the first fetch.
        seen, started = 0, time.perf_counter()
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                seen += len(records)
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def _evalsha_usec(redis_url: str) -> int:
    """Redis's total time in EVALSHA so far (µs): the Lua apply's share of a run."""
    client = SyncRedis.from_url(redis_url)
    try:
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        return int(stats.get("usec", 0))
    finally:
        client.close()


def measure_rebuild(
    settings: Settings, processes: int, ceiling: float, timeout_s: float = 900.0
) -> dict[str, Any]:
    """``spm-stream rebuild --processes N`` over the run's topic into fresh keys and a fresh
    consumer group; its steady and wall rates, its ratio to ``ceiling`` and its profile."""
    run = settings.model_copy(
        update={
            "redis_prefix": f"{settings.redis_prefix}-rb{processes}",
            "app_id": f"{settings.app_id}-rb{processes}",
        }
    )
    redis_url = run.require_redis()
    before = _evalsha_usec(redis_url)
    command = [sys.executable, "-m", "spm_stream", "rebuild", "--processes", str(processes)]
    done = subprocess.run(
        [*command, "--json"],
        env=_child_env(run),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    events = max(1, summary["events"])
    rate = summary["steady_events_per_s"]
    return {
        "processes": processes,  # as asked: a topic with fewer partitions uses fewer
        "processes_used": summary["processes"],
        "events": summary["events"],
        "events_per_s": rate,
        "ratio": round(rate / ceiling, 3),
        "wall_events_per_s": summary["events_per_s"],
        # µs per event: each stage summed over the processes, and Redis's Lua apply
        "profile_us": {
            **summary["profile_us"],
            "redis_lua": round((_evalsha_usec(redis_url) - before) / events, 2),
        },
    }


def _child_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        **settings.as_env(),
        "SPM_LEADERBOARD_INTERVAL_S": "0",
        "SPM_LOG_LEVEL": "warn",
        **extra,
    }
    env.pop("SPM_CONFIG", None)  # the benchmark's reps are not in the user's people file
    return env


async def _faust_noop(settings: Settings, n: int, workdir: Path, timeout_s: float) -> float:
    from agents.noop import noop_key

    env = _child_env(
        settings, SPM_APP_ID=settings.app_id + "-noop", SPM_DATA_DIR=str(workdir / "noop")
    )
    spawned_at = time.time()
    proc = spawn(
        [sys.executable, "-m", "spm_stream", "bench-noop-worker", "--expected", str(n)],
        workdir / "noop.log",
        env=env,
    )
    store = Store.from_settings(settings)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            found = await store.redis.hgetall(noop_key(settings))
            if "done_at" in found:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Faust noop worker did not finish; see {workdir}/noop.log")
            await asyncio.sleep(0.1)  # the agent timestamps its own end: no precision needed
        first_batch = int(found["first_batch"])
        if first_batch >= n:  # one batch held everything: time it from the spawn
            return n / (float(found["done_at"]) - spawned_at)
        return (n - first_batch) / (float(found["done_at"]) - float(found["first_at"]))
    finally:
        stop(proc)
        await store.close()


def _rss_mb(pid: int) -> float:
    """Resident memory of a worker and its child processes (the ingest process)."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _rss_mb(int(child))
    except OSError:
        pass
    return total


async def _pipeline(store: Store, n: int, workers: list[Any], timeout_s: float) -> float:
    """Events/s of the workers until the store has processed all N."""
    deadline = time.monotonic() + timeout_s
    spawned, started, at_start = time.perf_counter(), 0.0, 0
    while True:
        processed = (await store.stats()).processed
        now = time.perf_counter()
        if processed and not at_start:
            started, at_start = now, processed
        if processed >= n:
            if at_start >= n:  # seen all at the first look: time it from the spawn
                return n / (now - spawned)
            return (n - at_start) / (now - started)
        if any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            raise RuntimeError(f"pipeline stopped at {processed}/{n}; see the worker logs")
        # Polling costs CPU on the machine being measured (on two vCPUs that share a core,
        # any of it slows the worker): seldom until the end, whose time the rate depends
        # on, is near. The start needs no precision: the events done by then are counted.
        await asyncio.sleep(0.005 if processed >= 0.97 * n else 0.1)


async def _latency(
    settings: Settings, store: Store, options: BenchOptions
) -> tuple[list[float], list[float]]:
    """Produce→visible and produce→ack latencies (ms) at the offered load.

    An event's partition and offset come from the broker's ack; it is visible once
    that partition's watermark in Redis reaches it. The ack latency tells the
    producer's and broker's share of the total apart from the consumer's.
    """
    gen = Generator(teams=4, reps_per_team=10, seed=99)
    # Filled by kafka-python's I/O thread as the broker acks each record.
    acked: list[tuple[int, int, float]] = []
    ack_ms: list[float] = []
    # A 5 ms linger batches the sends (as any real producer does); it counts in the latency.
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks=1, linger_ms=5)

    def on_ack(sent_at: float) -> Callable[[Any], None]:
        def record(meta: Any) -> None:
            ack_ms.append((time.perf_counter() - sent_at) * 1000)
            acked.append((meta.partition, meta.offset, sent_at))

        return record

    total = int(options.latency_rate * options.latency_seconds)
    visible: list[float] = []
    # Per partition, acks arrive in offset order: pop from the left while visible, so
    # each poll costs what became visible, not what is still pending.
    pending: list[deque[tuple[int, float]]] = [deque() for _ in range(settings.partitions)]
    marks_keys = [store.keys.watermark(p) for p in range(settings.partitions)]
    taken = produced = 0
    started = time.perf_counter()
    now = datetime.now(UTC)
    try:
        while produced < total or taken < total or any(pending):
            due = min(total, int((time.perf_counter() - started) * options.latency_rate))
            while produced < due:
                key, value = next(iter(gen.records(now)))
                future = producer.send(settings.topic, key=key, value=value)
                future.add_callback(on_ack(time.perf_counter()))
                produced += 1
            fresh = acked[taken:]
            taken += len(fresh)
            for partition, offset, sent_at in fresh:
                pending[partition].append((offset, sent_at))
            if any(pending):
                marks = await store.redis.mget(marks_keys)
                seen_at = time.perf_counter()
                for queue, raw_mark in zip(pending, marks, strict=True):
                    mark = -1 if raw_mark is None else int(raw_mark)
                    while queue and queue[0][0] <= mark:
                        visible.append((seen_at - queue.popleft()[1]) * 1000)
            if time.perf_counter() - started > options.latency_seconds + 60:
                raise RuntimeError("latency phase: events not visible after 60 s")
            await asyncio.sleep(0.002)
    finally:
        producer.close()
    return visible, ack_ms


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(
    settings: Settings, options: BenchOptions, workdir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    records = _generate(options.events)
    ensure_topics(settings)
    produce(settings, records)
    say(f"produced {len(records)} events to {settings.topic} ({settings.partitions} partitions)")
    ceiling = await _ceiling(settings, options.events)
    say(f"raw ceiling (aiokafka getmany + JSON decode): {ceiling:,.0f} events/s")
    rebuilds = []
    for processes in options.rebuild:
        rebuilt = await asyncio.to_thread(
            measure_rebuild, settings, processes, ceiling, options.timeout_s
        )
        say(
            f"rebuild, {processes} process(es): {rebuilt['events_per_s']:,} events/s "
            f"({rebuilt['ratio']} of the ceiling), profile µs/event {rebuilt['profile_us']}"
        )
        rebuilds.append(rebuilt)
    rounds: list[tuple[float, float]] = []  # (pipeline, noop) events/s
    workers: list[Any] = []
    store: Store | None = None
    this = settings
    try:
        for r in range(options.rounds):
            (workdir / f"r{r}").mkdir()
            if r:  # a fresh consumer group and state for the pipeline and the reference
                this = settings.model_copy(
                    update={
                        "app_id": f"{settings.app_id}-r{r}",
                        "redis_prefix": f"{settings.redis_prefix}-r{r}",
                    }
                )
            noop = await _faust_noop(this, options.events, workdir / f"r{r}", options.timeout_s)
            say(f"round {r + 1}: Faust do-nothing agent: {noop:,.0f} events/s")
            for worker in workers:  # the last round's stay up for the latency phase
                stop(worker, 30.0)
            if store is not None:
                await store.close()
            store = Store.from_settings(this)
            workers = _start_workers(this, options.workers, workdir / f"r{r}")
            rate = await _pipeline(store, options.events, workers, options.timeout_s)
            say(f"round {r + 1}: full pipeline, {options.workers} worker(s): {rate:,.0f} events/s")
            rounds.append((rate, noop))
        assert store is not None
        latencies, ack_ms = await _latency(this, store, options)
        rss = max(_rss_mb(w.pid) for w in workers)
        p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
        ack_p50, ack_p99 = _percentile(ack_ms, 0.50), _percentile(ack_ms, 0.99)
        say(
            f"latency at {options.latency_rate:,.0f} events/s: p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms over {len(latencies)} events "
            f"(of which produce→ack p50 {ack_p50:.1f} ms, p99 {ack_p99:.1f} ms)"
        )
    finally:
        for worker in workers:
            stop(worker, 30.0)
        if store is not None:
            await store.close()
    rate = statistics.median(r for r, _ in rounds)
    noop = statistics.median(n for _, n in rounds)
    return {
        "events": options.events,
        "workers": options.workers,
        "partitions": settings.partitions,
        "events_per_s": round(rate),
        "ceiling_events_per_s": round(ceiling),
        "faust_noop_events_per_s": round(noop),
        "ratio": round(rate / ceiling, 3),
        "ratio_to_faust_noop": round(rate / noop, 3),
        # Each round's pipeline against the reference run just before it: the machine's
        # drift between rounds cancels out.
        "ratio_to_faust_noop_paired": round(statistics.median(r / n for r, n in rounds), 3),
        "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1),
        "ack_p50_ms": round(ack_p50, 1),
        "ack_p99_ms": round(ack_p99, 1),
        "latency_offered_events_per_s": options.latency_rate,
        "latency_samples": len(latencies),
        "rss_mb": round(rss, 1),
        **{
            f"rebuild_{r['processes']}p_{field}": r[field]
            for r in rebuilds
            for field in ("events_per_s", "ratio")
        },
        "rebuild": rebuilds,
        "rounds": [
            {
                "events_per_s": round(r),
                "faust_noop_events_per_s": round(n),
                "ratio_to_faust_noop": round(r / n, 3),
            }
            for r, n in rounds
        ],
    }


def _start_workers(settings: Settings, n: int, workdir: Path) -> list[Any]:
    # The live path is what this measures: the backlog is not handed to a bulk catch-up.
    env = _child_env(settings, SPM_CATCHUP_LAG="0")
    return [
        spawn(
            [sys.executable, "-m", "spm_stream", "worker"],
            workdir / f"worker-{i}.log",
            env={**env, "SPM_WEB_PORT": str(free_port()), "SPM_DATA_DIR": str(workdir / f"w{i}")},
        )
        for i in range(n)
    ]


def clean_up(
    settings: Settings,
    *,
    redis: bool,
    kafka: bool,
    say: Callable[[str], None],
    kafka_timeout_s: float = 10.0,
    topic_prefix: str | None = None,
) -> None:
    """Delete the run's Redis keys and topics: every name starts with its tag (the topics'
    with ``topic_prefix``, by default the input topic's name).

    A failure is logged, not raised: it must not hide why the run itself failed."""
    prefix = settings.redis_prefix  # the rounds' prefixes extend it: "bench-<tag>-r1"
    if redis:
        try:
            say(f"deleted {_delete_keys(settings.require_redis(), prefix)} keys under {prefix}")
        except (RedisError, OSError) as exc:
            log.warning("could not delete the Redis keys under %s: %r", prefix, exc)
    if kafka:
        # By default the input topic's name, which starts every other one's: -dlq, -alerts,
        # Faust's.
        topics_prefix = topic_prefix or settings.topic
        try:
            topics = delete_topics_with_prefix(settings, topics_prefix, kafka_timeout_s)
            say(f"deleted topics {', '.join(topics)}")
        except (KafkaError, OSError) as exc:
            log.warning("could not delete the topics %s*: %r", topics_prefix, exc)


def _delete_keys(redis_url: str, prefix: str) -> int:
    client = SyncRedis.from_url(redis_url)
    deleted = 0
    try:
        doomed: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            doomed.append(key)
            if len(doomed) == 1000:
                deleted += client.unlink(*doomed)
                doomed.clear()
        if doomed:
            deleted += client.unlink(*doomed)
    finally:
        client.close()
    return deleted


def run_bench(options: BenchOptions, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the benchmark on a fresh topic and key prefix; embedded services unless configured."""
    base = load_settings()
    tag = uuid.uuid4().hex[:8]
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"spm-bench-{tag}"
    workdir.mkdir(parents=True)
    embedded_kafka = base.kafka_url is None
    with embedded_services(workdir, kafka=embedded_kafka, redis=base.redis_url is None) as emb:
        settings = load_settings(
            kafka_url=base.kafka_url or emb.kafka_url,
            redis_url=base.redis_url or emb.redis_url,
            topic=f"bench-{tag}",
            dlq_topic=f"bench-{tag}-dlq",
            # Its own alerts topic: a shared one would make every run's notifier
            # re-read the alerts of all the runs before it.
            alerts_topic=f"bench-{tag}-alerts",
            app_id=f"bench-{tag}",
            redis_prefix=f"bench-{tag}",
            kafka_session_timeout_s=(
                EMBEDDED_SESSION_TIMEOUT_S if embedded_kafka else base.kafka_session_timeout_s
            ),
        )
        try:
            result = asyncio.run(_measure(settings, options, workdir, say))
        finally:
            # Embedded services go with the work directory; external ones keep what a
            # run wrote (~30 MB of keys and topics per 100,000 events) unless cleaned.
            if not options.keep:
                clean_up(
                    settings,
                    redis=base.redis_url is not None,
                    kafka=not embedded_kafka,
                    say=say,
                )
    result["kafka"] = "embedded tansu" if embedded_kafka else "external"
    return result
