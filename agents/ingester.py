"""Where the counters agent's own work runs: validation, planning and the Redis apply.

A worker is one Python interpreter: while it validates and plans a batch, Faust
cannot move the stream, and Faust's per-event machinery already fills a core
(BENCHMARKS.md). ``ProcessIngester`` (the default) runs our work in one child
process, so the two use both cores; ``InlineIngester`` runs it in the worker's
own event loop (``SPM_INGEST_PROCESS=false``: one-core containers, the demo).
Both run the same ``BatchIngest`` and return the same ``BatchOutcome``; the agent
acks a batch only after it, so a crash of either process before the reply
redelivers the batch, and the partition watermark makes the replay a no-op.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import logging
import multiprocessing
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

from spm_stream.alerting import event_alerts
from spm_stream.alerts import Alert
from spm_stream.directory import Directory
from spm_stream.events import Event
from spm_stream.ingest import Record, Reject, ingest
from spm_stream.noshow import Watch, transition
from spm_stream.scopes import Routing
from spm_stream.settings import Settings
from spm_stream.store import ApplyResult, Store, until_redis_answers

__all__ = [
    "BatchIngest",
    "BatchOutcome",
    "IngestProcessDied",
    "Ingester",
    "InlineIngester",
    "ProcessIngester",
    "make_ingester",
]

log = logging.getLogger("spm_stream.agents.ingester")

_CLOSE_GRACE_S = 5.0

#: What crosses the process boundary per record: plain tuples pickle fastest.
RawRecord = tuple[int, int, bytes | None, bytes]  # partition, offset, key, value


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch did: the apply's counts, what goes to the DLQ and the alerts topic."""

    applied: ApplyResult
    rejects: tuple[Reject, ...]
    alerts: tuple[Alert, ...]
    redis_retries: int = 0


class IngestProcessDied(RuntimeError):
    """The child process is gone; the batch in flight was not acked."""


class BatchIngest:
    """Validate, plan and apply one batch: the same code whichever process runs it."""

    def __init__(self, settings: Settings, directory: Directory, store: Store) -> None:
        self.topic = settings.topic
        self.store = store
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
        records = [Record(self.topic, p, o, k, v) for p, o, k, v in raw]
        result = ingest(
            records,
            keys=self.store.keys,
            routing=self.routing,
            watch=self.watch,
            alerts=self.raise_alerts,
        )
        applied, retries = await until_redis_answers(
            lambda: self.store.apply(result.batches), "redis apply failed"
        )
        return BatchOutcome(applied, tuple(result.rejects), tuple(result.alerts), retries)


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
    """In one child process with its own Redis connection; batches run in order."""

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self._init = (settings, directory)
        self._pool: ProcessPoolExecutor | None = None

    async def start(self) -> None:
        """Spawn the child and wait until it is ready, so the first batch pays no start-up.

        Idempotent: Faust restarts the agent body on rebalances, one child serves them all."""
        if self._pool is not None:
            return
        # spawn, not fork: the worker has threads (Faust's consumer), which fork would copy half of.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_start,
            initargs=self._init,
        )
        await self._run(_child_ready)

    async def __call__(self, raw: Sequence[RawRecord]) -> BatchOutcome:
        outcome = await self._run(_child_ingest, raw)
        assert isinstance(outcome, BatchOutcome)
        return outcome

    async def _run(self, fn: object, *args: object) -> object:
        if self._pool is None:
            raise IngestProcessDied("the ingest process was not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)  # type: ignore[arg-type]
        except BrokenProcessPool as exc:
            raise IngestProcessDied(f"the ingest process died: {exc}") from exc

    async def close(self) -> None:
        if self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        # A batch in flight gets a few seconds; a child retrying an absent Redis must not
        # hold up the shutdown. A batch cut short is unacked, so it is redelivered.
        for child in multiprocessing.active_children():
            await asyncio.to_thread(child.join, _CLOSE_GRACE_S)
            if child.is_alive():
                child.terminate()


def make_ingester(settings: Settings, directory: Directory, store: Store) -> Ingester:
    """The ingester the settings ask for."""
    if settings.ingest_process:
        return ProcessIngester(settings, directory)
    return InlineIngester(settings, directory, store)


# -- the child process ---------------------------------------------------------------

_child: tuple[asyncio.AbstractEventLoop, BatchIngest] | None = None


def _child_start(settings: Settings, directory: Directory) -> None:
    global _child
    if sys.platform == "linux":
        # Die with the worker (kill -9 included) instead of lingering with a Redis connection.
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the worker decides when to stop
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    _child = (loop, BatchIngest(settings, directory, Store.from_settings(settings)))
    gc.freeze()  # as in the worker (agents.app): full collections skip the start-up objects


def _child_ready() -> bool:
    return _child is not None


def _child_ingest(raw: Sequence[RawRecord]) -> BatchOutcome:
    assert _child is not None, "initializer did not run"
    loop, batch_ingest = _child
    return loop.run_until_complete(batch_ingest(raw))
