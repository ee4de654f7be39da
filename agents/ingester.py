"""Where the counters agent's own work runs: validation, planning and the Redis apply.

A worker is one Python interpreter: while it validates and plans a batch, Faust
cannot move the stream, and Faust's per-event machinery already fills a core
(BENCHMARKS.md). ``ProcessIngester`` (the default) runs our work in a child
process (``agents.child``), so the two use both cores; ``InlineIngester`` runs
it in the worker's own event loop (``SPM_INGEST_PROCESS=false``: one-core
containers). Both run the same ``BatchIngest`` and return the same ``BatchOutcome``; the agent
acks a batch only after it, so a crash of either process before the reply
redelivers the batch, and the partition watermark makes the replay a no-op.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agents.child import ChildDied, ChildProcess
from spm_stream.config.directory import Directory
from spm_stream.config.scopes import Routing
from spm_stream.config.settings import Settings
from spm_stream.contract.events import Event
from spm_stream.counting.ingest import IngestResult, Record, Reject, ingest, new_record
from spm_stream.counting.planning import PlanMemo
from spm_stream.rules.alerts import Alert
from spm_stream.rules.evaluate import event_alerts
from spm_stream.rules.noshow import Watch, transition
from spm_stream.store.redis_store import ApplyResult, Store, until_redis_answers

__all__ = [
    "BatchIngest",
    "BatchOutcome",
    "IngestProcessDied",
    "Ingester",
    "InlineIngester",
    "Planning",
    "ProcessIngester",
    "make_ingester",
]


#: What crosses the process boundary per record: plain tuples pickle fastest.
RawRecord = tuple[int, int, bytes | None, bytes]  # partition, offset, key, value


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch did: the apply's counts, what goes to the DLQ and the alerts topic."""

    applied: ApplyResult
    rejects: tuple[Reject, ...]
    alerts: tuple[Alert, ...]
    redis_retries: int = 0


@dataclass(frozen=True, slots=True)
class Planning:
    """A batch validated and planned, not yet applied."""

    records: Sequence[Record]
    result: IngestResult


class IngestProcessDied(RuntimeError):
    """The child process is gone; the batch in flight was not acked."""


class BatchIngest:
    """Validate, plan and apply one batch: the same code whichever process runs it."""

    def __init__(self, settings: Settings, directory: Directory, store: Store) -> None:
        self.topic = settings.topic
        self.store = store
        self.memo: PlanMemo = {}  # plans outlive a batch: the same reps, types and days recur
        self.routing = Routing.from_directory(directory)
        rules = directory.alerts
        calendar_of = functools.lru_cache(maxsize=4096)(directory.calendar_of)

        def watch(event: Event) -> Watch | None:
            return transition(event, rules.no_show, calendar_of)

        def raise_alerts(event: Event) -> list[Alert]:
            return event_alerts(event, rules, directory.manager_of)

        self.watch = watch
        self.raise_alerts = raise_alerts

    async def __call__(self, raw: Sequence[RawRecord]) -> BatchOutcome:
        """Ingest and apply; Redis being away is waited out, never skipped."""
        return await self.apply(self.plan(raw))

    def plan(self, raw: Sequence[RawRecord]) -> Planning:
        """Validate and plan a batch (CPU only: the bulk path plans the next batch while
        Redis applies this one)."""
        topic = self.topic
        return self.plan_records([new_record((topic, p, o, k, v)) for p, o, k, v in raw])

    def plan_records(self, records: Sequence[Record]) -> Planning:
        """``plan`` for records already built (the bulk path builds them from its fetch)."""
        result = ingest(
            records,
            keys=self.store.keys,
            routing=self.routing,
            watch=self.watch,
            alerts=self.raise_alerts,
            memo=self.memo,
        )
        return Planning(records, result)

    async def apply(self, planning: Planning) -> BatchOutcome:
        """Apply a planned batch in Redis, atomically per partition and exactly once."""
        result = planning.result
        applied, retries = await until_redis_answers(
            lambda: self.store.apply(result.batches), "redis apply failed"
        )
        rejects = tuple(result.rejects)
        if applied.overflowed:
            by_position = {(r.partition, r.offset): r for r in planning.records}
            rejects += tuple(
                Reject(by_position[(p, o)], "data", reason) for p, o, reason in applied.overflowed
            )
        return BatchOutcome(applied, rejects, tuple(result.alerts), retries)


class Ingester(Protocol):
    """Runs ``BatchIngest`` somewhere; the counters agent awaits it before acking."""

    async def start(self) -> None: ...

    async def __call__(self, raw: Sequence[RawRecord]) -> BatchOutcome: ...

    async def close(self) -> None: ...


class InlineIngester:
    """In the worker's own event loop, on the worker's store."""

    def __init__(self, settings: Settings, directory: Directory, store: Store) -> None:
        self._ingest = BatchIngest(settings, directory, store)

    async def start(self) -> None:
        return None

    async def __call__(self, raw: Sequence[RawRecord]) -> BatchOutcome:
        return await self._ingest(raw)

    async def close(self) -> None:
        return None


class ProcessIngester:
    """In a child process (``agents.child``) with its own Redis connection; batches run in order."""

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self._child = ChildProcess("spm-ingest", _batch_ingest, settings, directory)

    async def start(self) -> None:
        """Spawn the child before the first batch. Idempotent: Faust restarts the agent
        body on rebalances, one child serves them all."""
        await self._child.start()

    async def __call__(self, raw: Sequence[RawRecord]) -> BatchOutcome:
        try:
            outcome = await self._child.call("__call__", raw)
        except ChildDied as exc:
            raise IngestProcessDied(str(exc)) from exc
        assert isinstance(outcome, BatchOutcome)
        return outcome

    async def close(self) -> None:
        # A batch cut short is unacked, so it is redelivered.
        await self._child.close()


def make_ingester(settings: Settings, directory: Directory, store: Store) -> Ingester:
    """The ingester the settings ask for."""
    if settings.ingest_process:
        return ProcessIngester(settings, directory)
    return InlineIngester(settings, directory, store)


def _batch_ingest(settings: Settings, directory: Directory) -> BatchIngest:
    """Built in the child: its own Redis connection."""
    return BatchIngest(settings, directory, Store.from_settings(settings))
