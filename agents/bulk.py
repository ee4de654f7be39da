"""Catch-up at the speed of the log: ``spm-stream rebuild`` reads whole partitions in bulk.

The live agent pays Faust's per-message cost; a rebuild from the log, or a backlog to
clear, does not need it. Here each process (one per core by default) owns whole
partitions, fetches them with aiokafka's ``getmany`` and runs the same ``BatchIngest``
as the counters agent: the same validation, planning and Lua apply, the same
dead-letter and alerts topics. It starts each partition after the store's watermark and
reads to the end offsets seen at the start; the Lua apply skips anything at or below
the watermark, so a rebuild killed and started again, or run twice, counts every event
once. When every partition is done, the worker's consumer group is given those end
offsets, so the workers resume after what the rebuild applied.

``rebuild`` runs while the workers are stopped: it refuses a consumer group with live
members (two readers of a partition would both apply; the watermark keeps the counts
right, but the work is done twice). Running workers use the same ``BulkRun`` for the
partitions they are assigned far behind, through their own group membership
(``agents/catchup.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agents.child import die_with_parent
from agents.faust_compat import fetched_as
from agents.ingester import BatchIngest, Planning
from spm_stream.config.directory import Directory, load_directory
from spm_stream.config.settings import ConfigError, Settings
from spm_stream.counting.ingest import IngestResult, Record, Reject, new_record
from spm_stream.rules.alerts import Alert
from spm_stream.store.redis_store import Store

__all__ = ["BulkRun", "BulkRunFailed", "Plan", "busy_members", "plan", "rebuild", "split"]

#: Records one getmany may return: large enough that the Lua apply's cost per batch (which
#: grows with its distinct counters, not its events) is spread thin; small enough that
#: a script (one partition's share of a fetch, 2.5 µs an event) holds Redis for 25 ms at
#: most, beside live workers.
#: (10,000 against 5,000 and 20,000, alternated: 201-229k against 200-210k and 207-224k
#: events/s; BENCHMARKS.md, session 6.)
FETCH_RECORDS = 10_000

#: What each rebuild process counts; the summary adds them up.
_COUNTS: Final = ("events", "counted", "duplicates", "rejected", "alerts")

#: Where a rebuild process's time goes (seconds): waiting for and unpacking a fetch,
#: validating and planning, waiting for Redis to finish the previous batch, and its CPU.
_STAGES: Final = ("fetch_s", "plan_s", "apply_wait_s", "cpu_s")

#: Records planned between two yields to the event loop. Planning a fetch is ~20 ms of CPU
#: without an await: the apply task of the batch before would send its script to Redis
#: only afterwards (redis-py needs two turns of the loop to write it), so Redis and the
#: planner took turns instead of working side by side (BENCHMARKS.md, session 6).
PLAN_SLICE = 1000

#: Allocations between young collections in a rebuild process (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


@dataclass(frozen=True, slots=True)
class Plan:
    """Where each partition starts (after its watermark) and ends (its end offset now)."""

    start: dict[int, int]
    end: dict[int, int]

    @property
    def events(self) -> int:
        """Records left to read."""
        return sum(max(0, self.end[p] - self.start[p]) for p in self.end)


def split(partitions: Sequence[int], processes: int) -> list[list[int]]:
    """Whole partitions per process, round-robin (a partition is never shared)."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(processes, len(partitions))))]
    for i, partition in enumerate(sorted(partitions)):
        groups[i % len(groups)].append(partition)
    return [g for g in groups if g]


async def busy_members(settings: Settings) -> int:
    """Members of the worker's consumer group right now (0 when the workers are stopped)."""
    # aiokafka's admin client: kafka-python's cannot read the embedded broker's answer.
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([settings.app_id])
    finally:
        await admin.close()
    return sum(
        len(group["members"])
        for response in responses
        for group in response.to_object()["groups"]
        if group["group"] == settings.app_id
    )


async def plan(settings: Settings, store: Store, partitions: Sequence[int] | None = None) -> Plan:
    """Each partition's first offset after the watermark, and its end offset now (of
    ``partitions``, by default all)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        wanted = range(settings.partitions) if partitions is None else partitions
        tps = [TopicPartition(settings.topic, p) for p in wanted]
        beginning = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    start = {
        tp.partition: max(beginning[tp], await store.watermark(tp.partition) + 1) for tp in tps
    }
    return Plan(start, {tp.partition: ends[tp] for tp in tps})


async def _rebuild_partitions(
    settings: Settings,
    directory: Directory,
    todo: Plan,
    partitions: Sequence[int],
    report: Callable[[int], None],
) -> dict[str, float]:
    """One process's share: fetch in bulk, ingest and apply, dead-letter, publish alerts.

    Batch N+1 is fetched and planned while Redis applies batch N; the applies themselves
    run one after the other, in offset order, as the watermark requires."""
    store = Store.from_settings(settings)
    ingest = BatchIngest(settings, directory, store)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await consumer.start()
    await producer.start()
    done: dict[str, float] = dict.fromkeys(_COUNTS + _STAGES, 0)
    clock = time.perf_counter

    async def publish(rejects: Sequence[Reject], alerts: Sequence[Alert]) -> None:
        for reject in rejects:
            await producer.send(
                settings.dlq_topic,
                value=reject.record.value,
                key=reject.record.key,
                headers=reject.headers(),
            )
        for alert in alerts:
            await producer.send(settings.alerts_topic, value=alert.dumps(), key=alert.partition_key)
        if rejects or alerts:
            await producer.flush()

    async def apply(planning: Planning, events: int) -> None:
        # Published before the apply: a bulk run starts again after the watermark, so a
        # batch applied and then killed before its dead letters and alerts were sent would
        # never send them. Sent twice at worst (the DLQ is at-least-once, the notifier
        # dedupes alerts by identity).
        await publish(planning.result.rejects, planning.result.alerts)
        outcome = await ingest.apply(planning)
        late = outcome.rejects[len(planning.result.rejects) :]  # counters that would overflow
        await publish(late, ())
        done["events"] += events
        done["counted"] += outcome.applied.counted
        done["duplicates"] += outcome.applied.duplicates
        done["rejected"] += len(outcome.rejects)
        done["alerts"] += len(outcome.alerts)
        report(events)

    async def plan_sliced(records: Sequence[Record]) -> Planning:
        # Slices of one batch planned in order are the batch planned at once (the memo
        # carries over), with turns of the event loop in between for the apply in flight.
        parts: list[IngestResult] = []
        for start in range(0, len(records), PLAN_SLICE):
            parts.append(ingest.plan_records(records[start : start + PLAN_SLICE]).result)
            await asyncio.sleep(0)
        return Planning(records, IngestResult.joined(parts))

    applying: asyncio.Task[None] | None = None
    try:
        left = {p for p in partitions if todo.end[p] > todo.start[p]}
        tps = {p: TopicPartition(settings.topic, p) for p in left}
        consumer.assign(list(tps.values()))
        topic = settings.topic
        for p, tp in tps.items():
            consumer.seek(tp, todo.start[p])
        # Connected, assigned and positioned: the clock starts here, as the raw ceiling's.
        done["started_at"] = time.monotonic()
        cpu = time.process_time()
        while left:
            at = clock()
            fetched = await consumer.getmany(timeout_ms=1000, max_records=FETCH_RECORDS)
            records: list[Record] = []
            for tp, batch in fetched.items():
                records += _as_records(batch, topic, todo.end[tp.partition])
            fetched_at = clock()
            planning = await plan_sliced(records) if records else None
            planned_at = clock()
            if applying is not None:
                await applying  # batch N is in Redis before batch N+1 is sent
                applying = None
            done["fetch_s"] += fetched_at - at
            done["plan_s"] += planned_at - fetched_at
            done["apply_wait_s"] += clock() - planned_at
            if planning is not None:
                applying = asyncio.create_task(apply(planning, len(records)))
                # Let it start now: a fetch already buffered returns without yielding, and
                # the first slice of the next plan would run first (see PLAN_SLICE).
                await asyncio.sleep(0)
            for p in list(left):
                if await consumer.position(tps[p]) >= todo.end[p]:
                    left.discard(p)
                    consumer.pause(tps[p])
        if applying is not None:
            at = clock()
            await applying
            applying = None
            done["apply_wait_s"] += clock() - at
        done["finished_at"] = time.monotonic()
        done["cpu_s"] = time.process_time() - cpu
    finally:
        if applying is not None:  # the loop failed: the batch in flight is abandoned
            applying.cancel()
            with contextlib.suppress(BaseException):
                await applying
        await consumer.stop()
        await producer.stop()
        await store.close()
    return done


def _as_records(batch: list[Any], topic: str, end: int) -> list[Record]:
    """A partition's fetched records before ``end``, as ``Record``s: aiokafka hands them out
    so (``faust_compat.fetched_as``) or, without its hook, as ``ConsumerRecord``s."""
    if batch and type(batch[0]) is not Record:
        batch = [new_record((topic, r.partition, r.offset, r.key, r.value)) for r in batch]
    if batch and batch[-1].offset >= end:  # in offset order: only the last fetch reaches it
        batch = [r for r in batch if r.offset < end]
    return batch


def _process(
    settings: Settings,
    todo: Plan,
    partitions: list[int],
    progress: Any,
    results: Any,
) -> None:
    die_with_parent("spm-bulk")  # a worker killed mid-catch-up takes its processes along
    directory = load_directory(settings.config)
    # A batch keeps thousands of events alive until it is applied, and the cyclic GC's
    # young collections walk them again and again: that was half the cost of validation
    # (BENCHMARKS.md, "Rebuild in bulk"). The start-up objects are frozen out of the walk
    # and young collections made rarer. Refcounting still frees a batch once it is applied;
    # any cycles are still collected, only less often, so memory stays bounded.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)

    def report(n: int) -> None:
        progress.put(n)

    with fetched_as(new_record):
        summary = asyncio.run(_rebuild_partitions(settings, directory, todo, partitions, report))
    results.put(summary)


async def _commit(settings: Settings, todo: Plan) -> None:
    """Give the worker's consumer group the end offsets: the workers resume after them."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.app_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(settings.topic, p) for p in todo.end])
        await consumer.commit(
            {TopicPartition(settings.topic, p): end for p, end in todo.end.items()}
        )
    finally:
        await consumer.stop()


class BulkRun:
    """Processes (one per core by default) that each apply whole partitions of a ``Plan``.

    Driven by polling, so that ``rebuild`` (a CLI, blocking) and the worker's automatic
    catch-up (asyncio) share it: ``start``, then ``poll`` until it says done, or ``stop``."""

    def __init__(self, settings: Settings, todo: Plan, processes: int) -> None:
        self.todo = todo
        groups = split([p for p in todo.end if todo.end[p] > todo.start[p]], processes)
        spawn = mp.get_context("spawn")
        self._progress, self._results = spawn.Queue(), spawn.Queue()
        self._workers = [
            spawn.Process(
                target=_process,
                args=(settings, todo, group, self._progress, self._results),
                name="spm-bulk",
            )
            for group in groups
        ]
        self.done = 0  # events applied so far, over all processes
        self.summaries: list[dict[str, float]] = []
        self.started = time.monotonic()

    @property
    def processes(self) -> int:
        """How many processes share the partitions."""
        return len(self._workers)

    def start(self) -> None:
        """Spawn the processes (each imports and connects on its own: ~1 s)."""
        self.started = time.monotonic()
        for worker in self._workers:
            worker.start()

    def poll(self) -> bool:
        """Take in progress; True once every process has finished its partitions.
        Raises ``BulkRunFailed`` (after stopping the rest) when one died."""
        while not self._progress.empty():
            self.done += self._progress.get()
        while not self._results.empty():
            self.summaries.append(self._results.get())
        if any(w.exitcode not in (None, 0) for w in self._workers):
            self.stop()
            raise BulkRunFailed("a bulk process died")
        if len(self.summaries) < len(self._workers):
            return False
        for worker in self._workers:
            worker.join()
        while not self._progress.empty():
            self.done += self._progress.get()
        return True

    def stop(self) -> None:
        """Kill every process now. Safe at any moment: each batch's Lua apply is atomic and
        moves its partition's watermark, so a later run resumes after what was applied."""
        for worker in self._workers:
            if worker.exitcode is None:
                worker.kill()
        for worker in self._workers:
            worker.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        """Counts, rates and the profile of a finished run."""
        seconds = time.monotonic() - self.started
        summaries = self.summaries
        summary: dict[str, Any] = {key: int(sum(s[key] for s in summaries)) for key in _COUNTS}
        # Steady rate: from the first process connected and positioned to the last done, as
        # the raw ceiling is timed; the wall clock adds process start-up and planning.
        steady = (
            max(s["finished_at"] for s in summaries) - min(s["started_at"] for s in summaries)
            if summaries
            else 0.0
        )
        events = summary["events"]
        return summary | {
            "processes": len(self._workers),
            "partitions": len(self.todo.end),
            "seconds": round(seconds, 2),
            "events_per_s": round(events / seconds) if seconds > 0 else 0,
            "steady_seconds": round(steady, 2),
            "steady_events_per_s": round(events / steady) if steady > 0 else 0,
            # µs per event, summed over the processes (each stage runs in every process)
            "profile_us": {
                stage.removesuffix("_s"): round(
                    sum(s[stage] for s in summaries) / max(1, events) * 1e6, 2
                )
                for stage in _STAGES
            },
        }


class BulkRunFailed(RuntimeError):
    """A bulk process died; what it applied stays applied (its watermark says how far)."""


def rebuild(
    settings: Settings,
    processes: int,
    on_progress: Callable[[int, int, float], None],
) -> dict[str, Any]:
    """Bring the store up to the end of the log with ``processes`` processes; the summary.
    ``on_progress(done, total, seconds)`` is called as batches are applied."""
    if (members := asyncio.run(busy_members(settings))) > 0:
        raise ConfigError(
            f"SPM_APP_ID: consumer group {settings.app_id!r} has {members} live member(s); "
            "stop the workers first (rebuild reads the partitions they would read)"
        )

    async def planned() -> Plan:
        store = Store.from_settings(settings)
        try:
            return await plan(settings, store)
        finally:
            await store.close()

    todo = asyncio.run(planned())
    run = BulkRun(settings, todo, processes)
    run.start()
    try:
        while not run.poll():
            on_progress(run.done, todo.events, time.monotonic() - run.started)
            time.sleep(0.2)
    except BulkRunFailed:
        raise RuntimeError("a rebuild process died; run `spm-stream rebuild` again") from None
    finally:
        run.stop()  # a no-op once they have finished; on Ctrl-C, they go too
    asyncio.run(_commit(settings, todo))
    on_progress(run.done, todo.events, time.monotonic() - run.started)
    return run.summary()
