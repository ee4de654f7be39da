"""A child process of the worker for CPU work that must not stall Faust's event loop.

A worker is one Python interpreter: while its event loop validates a batch or
evaluates the rules, Faust cannot move the stream. ``ChildProcess`` spawns one
process holding one object (built there by a picklable ``factory``) and runs its
async methods one at a time, in order, on the child's own event loop. The ingest
(``agents.ingester``) and the leader's rules (``agents.rules``) each have one.

The child dies with the worker (kill -9 included), ignores Ctrl-C (the worker
decides when to stop) and names itself (``ps -o comm``: ``spm-ingest``,
``spm-rules``) so an operator, or a test, can tell the children apart.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["ChildDied", "ChildProcess"]

log = logging.getLogger("spm_stream.agents.child")

_CLOSE_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


class ChildDied(RuntimeError):
    """The child process is gone; the call in flight has no result."""


class ChildProcess:
    """One spawned process holding ``factory(*args)``; ``call`` awaits its methods in order."""

    def __init__(self, name: str, factory: Callable[..., object], *args: object) -> None:
        self.name = name
        self._init = (name, factory, args)
        self._pool: ProcessPoolExecutor | None = None
        self.pid: int | None = None

    async def start(self) -> None:
        """Spawn the child and wait until its object is built, so the first call pays no start-up.

        Idempotent: a started child is kept."""
        if self._pool is not None:
            return
        # spawn, not fork: the worker has threads (Faust's consumer), which fork would copy half of.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_start,
            initargs=self._init,
        )
        try:
            pid = await self._run(os.getpid)
        except ChildDied:
            await self.close()  # so that the next start() spawns again
            raise
        assert isinstance(pid, int)
        self.pid = pid
        log.info("%s process started", self.name, extra={"pid": pid})

    async def call(self, method: str, *args: object) -> object:
        """Await ``method(*args)`` of the child's object; its exceptions are raised here."""
        return await self._run(_child_call, method, args)

    async def _run(self, fn: Callable[..., object], *args: object) -> object:
        if self._pool is None:
            raise ChildDied(f"the {self.name} process was not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool as exc:
            raise ChildDied(f"the {self.name} process died: {exc}") from exc

    async def close(self) -> None:
        """Stop the child: a call in flight gets a few seconds, then the process is terminated."""
        if self._pool is None:
            return
        pool, pid = self._pool, self.pid
        self._pool, self.pid = None, None
        pool.shutdown(wait=False, cancel_futures=True)
        # A child retrying an absent Redis must not hold up the worker's shutdown; whatever
        # it was doing is redone (an unacked batch is redelivered, a tick is repeated).
        for child in multiprocessing.active_children():
            if child.pid == pid:
                await asyncio.to_thread(child.join, _CLOSE_GRACE_S)
                if child.is_alive():
                    child.terminate()


# -- in the child ---------------------------------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_target: Any = None


def _child_start(name: str, factory: Callable[..., object], args: tuple[object, ...]) -> None:
    global _loop, _target
    if sys.platform == "linux":
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        # Die with the worker (kill -9 included) instead of lingering with its connections.
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    _target = factory(*args)
    gc.freeze()  # as in the worker (agents.app): full collections skip the start-up objects


def _child_call(method: str, args: tuple[object, ...]) -> object:
    assert _loop is not None, "initializer did not run"
    return _loop.run_until_complete(getattr(_target, method)(*args))
