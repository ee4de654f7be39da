"""Automatic catch-up: a partition assigned far behind the log is applied in bulk first.

When a rebalance completes, Faust's recovery awaits ``app.on_rebalance_complete`` and
only then resumes the assigned partitions, each at its committed offset. The handler here
runs in that gap, while no partition is fetched: for the input topic's partitions this
worker now owns, it compares the end offset with where the store left off (watermark + 1).
Partitions more than ``SPM_CATCHUP_LAG`` behind are applied by a ``BulkRun``
(``agents/bulk.py``: one process per core, whole partitions, the same validation,
planning and Lua apply) up to the end offsets seen now. Their new offsets (watermark + 1)
are then committed through this worker's own group membership, so Faust resumes them
exactly where the bulk run stopped.

Exactly once, both ways: the bulk run starts after the watermark, the live agent after
the committed offset, and the Lua apply skips anything at or below the watermark whoever
sends it. A rebalance during a catch-up (a worker joins, leaves or dies) revokes the
partitions: the revoke handler kills the bulk processes before the partitions are handed
on (each batch's apply is atomic) and their next owner starts from the watermark. A round
ends after ``SPM_CATCHUP_MAX_S`` (the worker fetches nothing meanwhile; Kafka's max poll
interval is set above it): what it applied is committed and the rest goes live.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import faust

from agents.bulk import BulkRun, BulkRunFailed, Plan, plan
from agents.faust_compat import commit_offsets
from agents.runtime import Runtime
from spm_stream.config.settings import Settings

__all__ = ["CatchUp", "lagging", "register"]

log = logging.getLogger("spm_stream.agents.catchup")

#: Seconds between progress lines of a running catch-up.
PROGRESS_EVERY_S = 5.0


def lagging(todo: Plan, threshold: int) -> Plan:
    """The partitions of ``todo`` more than ``threshold`` events behind their end offset."""
    behind = [p for p in todo.end if todo.end[p] - todo.start[p] > threshold]
    return Plan({p: todo.start[p] for p in behind}, {p: todo.end[p] for p in behind})


def _processes(settings: Settings) -> int:
    return settings.catchup_processes or os.cpu_count() or 1


class CatchUp:
    """The catch-up of one worker: at most one bulk run at a time."""

    def __init__(self, app: faust.App, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.run: BulkRun | None = None

    def assigned(self) -> list[int]:
        """This worker's partitions of the input topic."""
        topic = self.rt.settings.topic
        return sorted(tp.partition for tp in self.app.consumer.assignment() if tp.topic == topic)

    async def on_rebalance_complete(self, sender: Any, /, *args: Any, **kwargs: Any) -> None:
        """Catch the lagging partitions up before Faust resumes them (see the module).

        Never raises: an exception here would stop Faust's recovery, and the live agent
        alone is always correct, only slower. A new rebalance may cancel this (Faust's
        recovery starts over): the bulk processes are killed first."""
        try:
            await self._catch_up()
        except asyncio.CancelledError:
            self._kill()
            raise
        except Exception:
            log.exception("catch-up failed; the live agent takes the backlog")
            self._kill()

    def _kill(self) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.stop()

    async def _catch_up(self) -> None:
        settings, store = self.rt.settings, self.rt.store
        partitions = self.assigned()
        if not partitions or self.app.should_stop:
            return
        todo = lagging(await plan(settings, store, partitions), settings.catchup_lag)
        if not todo.end:
            return
        run = self.run = BulkRun(settings, todo, _processes(settings))
        log.info(
            "catching up %d partition(s), %d events behind, in bulk with %d process(es)",
            len(todo.end),
            todo.events,
            run.processes,
            extra={"partitions": sorted(todo.end), "events": todo.events},
        )
        run.start()
        finished = await self._wait(run, todo)
        if self.run is not run:
            return  # revoked meanwhile: the partitions' next owners carry on from the watermark
        self.run = None
        # Where the store is now (all of it, or what a cut-short round applied): Faust
        # resumes each partition there.
        offsets = {p: await store.watermark(p) + 1 for p in todo.end}
        offsets = {p: o for p, o in offsets.items() if o > todo.start[p]}
        if offsets:
            await commit_offsets(self.app, offsets, settings.topic)
        self.rt.caught_up += run.done
        summary = run.summary() if finished else {"events": run.done}
        log.info(
            "catch-up %s: %d events in %.1f s; the live agent resumes after them",
            "done" if finished else "cut short",
            run.done,
            time.monotonic() - run.started,
            extra={"summary": summary, "resume_at": offsets},
        )

    async def _wait(self, run: BulkRun, todo: Plan) -> bool:
        """Until the run is done (True), or revoked, failed or past SPM_CATCHUP_MAX_S."""
        deadline = run.started + self.rt.settings.catchup_max_s
        said = run.started
        try:
            while True:
                if self.run is not run:  # stopped by a revoke: its processes were killed
                    return False
                if run.poll():
                    return True
                now = time.monotonic()
                if now > deadline:
                    log.warning(
                        "catch-up stopped after SPM_CATCHUP_MAX_S=%.0f s; the rest goes live",
                        self.rt.settings.catchup_max_s,
                    )
                    run.stop()
                    return False
                if now - said >= PROGRESS_EVERY_S:
                    said = now
                    rate = run.done / max(1e-6, now - run.started)
                    log.info(
                        "catch-up: %d of %d events, %.0f/s, about %.0f s left",
                        run.done,
                        todo.events,
                        rate,
                        (todo.events - run.done) / rate if rate else float("inf"),
                    )
                await asyncio.sleep(0.2)
        except BulkRunFailed:
            if self.run is run:
                log.error("catch-up process died; what it applied is kept, the rest goes live")
            return False

    async def on_partitions_revoked(self, sender: Any, /, *args: Any, **kwargs: Any) -> None:
        """Stop a running catch-up before its partitions go to another worker."""
        await self.stop()

    async def stop(self) -> None:
        """Kill the bulk processes, if any; what they applied stays applied."""
        run, self.run = self.run, None
        if run is not None:
            log.info("catch-up stopped (rebalance or shutdown) at %d events", run.done)
            await asyncio.to_thread(run.stop)


def register(app: faust.App, rt: Runtime) -> None:
    """Catch lagging partitions up in bulk whenever this worker is assigned partitions."""
    if rt.settings.catchup_lag <= 0:
        log.info("automatic catch-up off (SPM_CATCHUP_LAG=0)")
        return
    catchup = CatchUp(app, rt)
    app.on_rebalance_complete.connect(catchup.on_rebalance_complete)
    app.on_partitions_revoked.connect(catchup.on_partitions_revoked)

    @app.on_before_shutdown.connect
    async def stop_catchup(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await catchup.stop()
