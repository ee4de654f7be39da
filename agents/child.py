"""A child process of the worker for CPU work that must not stall Faust's event loop.

A worker is one Python interpreter: while its event loop validates a batch or
evaluates the rules, Faust cannot move the stream. ``ChildProcess`` spawns one
process holding one object (built there by a picklable ``factory``) and runs its
async methods one at a time, in order, on the child's own event loop. The ingest
(``agents.ingester``) and the leader's rules (``agents.rules``) each have one.

Calls travel over a socket pair that the worker's own event loop reads and
writes: no helper threads. ``concurrent.futures.ProcessPoolExecutor``, used
before, adds a manager thread and a queue feeder thread to the worker; on a
machine whose two vCPUs share a core they cost the stream ~8 % of a CPU in
wake-ups and GIL hand-offs (BENCHMARKS.md, session 9).

The child dies with the worker (kill -9 included), ignores Ctrl-C (the worker
decides when to stop) and names itself (``ps -o comm``: ``spm-ingest``,
``spm-rules``) so an operator, or a test, can tell the children apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import sys
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["ChildDied", "ChildProcess", "die_with_parent"]

log = logging.getLogger("spm_stream.agents.child")

_CLOSE_GRACE_S = 5.0
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
#: Each message on the socket: its length, then the pickle.
_HEADER = struct.Struct("!Q")


class ChildDied(RuntimeError):
    """The child process is gone; the call in flight has no result."""


class ChildProcess:
    """One spawned process holding ``factory(*args)``; ``call`` awaits its methods in order."""

    def __init__(self, name: str, factory: Callable[..., object], *args: object) -> None:
        self.name = name
        self._init = (name, factory, args)
        self.pid: int | None = None
        self._process: BaseProcess | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        # One future per request sent, in order: the child answers in the same order.
        self._waiting: deque[asyncio.Future[tuple[bool, object]]] = deque()
        self._gone: ChildDied | None = None

    async def start(self) -> None:
        """Spawn the child and wait until its object is built, so the first call pays no start-up.

        Idempotent: a started child is kept."""
        if self._process is not None:
            return
        ours, theirs = socket.socketpair()
        # spawn, not fork: the worker has threads (Faust's consumer), which fork would copy half of.
        process = multiprocessing.get_context("spawn").Process(
            target=_child_main, args=(theirs, *self._init), name=self.name, daemon=True
        )
        try:
            process.start()
            reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the child has its own copy
        self._process, self._gone = process, None
        self._reader_task = asyncio.get_running_loop().create_task(self._read_replies(reader))
        try:
            # The child's first message: its object is built, and its pid.
            pid = await self._outcome(self._expect_reply())
        except Exception as exc:
            await self.close()  # so that the next start() spawns again
            if isinstance(exc, ChildDied):
                raise
            raise ChildDied(f"the {self.name} process could not start: {exc!r}") from exc
        assert isinstance(pid, int)
        self.pid = pid
        log.info("%s process started", self.name, extra={"pid": pid})

    async def call(self, method: str, *args: object) -> object:
        """Await ``method(*args)`` of the child's object; its exceptions are raised here."""
        if self._writer is None:
            raise ChildDied(f"the {self.name} process was not started")
        if self._gone is not None:
            raise self._gone
        payload = pickle.dumps((method, args), protocol=pickle.HIGHEST_PROTOCOL)
        reply = self._expect_reply()  # before the request: the reader may see the answer first
        try:
            # write() takes the whole message into the transport at once: a caller
            # cancelled in drain() still sends it, and its reply is read and dropped.
            self._writer.writelines((_HEADER.pack(len(payload)), payload))
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise self._died(exc) from exc
        return await self._outcome(reply)

    def _expect_reply(self) -> asyncio.Future[tuple[bool, object]]:
        future: asyncio.Future[tuple[bool, object]] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        return future

    @staticmethod
    async def _outcome(reply: asyncio.Future[tuple[bool, object]]) -> object:
        # Shielded: a caller cancelled mid-call (a rebalance stops the agent) leaves the
        # reply to the reader, in its place in the order.
        ok, value = await asyncio.shield(reply)
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                reply = pickle.loads(await reader.readexactly(size))
                future = self._waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            gone = self._died(exc)
        except asyncio.CancelledError:
            gone = ChildDied(f"the {self.name} process was closed")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(gone)
                # Marked retrieved: a cancelled caller no longer awaits it, and asyncio
                # would log it as never retrieved. An awaiting caller still gets it.
                future.exception()

    def _died(self, exc: BaseException) -> ChildDied:
        if self._gone is None:
            code = None if self._process is None else self._process.exitcode
            self._gone = ChildDied(f"the {self.name} process died (exit code {code}): {exc!r}")
        return self._gone

    async def close(self) -> None:
        """Stop the child: a call in flight gets a few seconds, then the process is terminated."""
        process, writer, reader_task = self._process, self._writer, self._reader_task
        if process is None:
            return
        self._process, self._writer, self._reader_task, self.pid = None, None, None, None
        assert writer is not None
        assert reader_task is not None
        # No more requests: the child answers the one in flight, reads the end of the
        # stream and exits. A child retrying an absent Redis must not hold up the worker's
        # shutdown: it is terminated after a few seconds, and whatever it was doing is
        # redone (an unacked batch is redelivered, a tick is repeated).
        with contextlib.suppress(ConnectionError, OSError):
            writer.write_eof()
        await asyncio.wait({reader_task}, timeout=_CLOSE_GRACE_S)
        if reader_task.done():  # it answered and closed its end: it is exiting
            await asyncio.to_thread(process.join, _CLOSE_GRACE_S)
        for stop in (process.terminate, process.kill):
            if not process.is_alive():
                break
            stop()
            await asyncio.to_thread(process.join, _CLOSE_GRACE_S)
        reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader_task
        writer.close()
        process.close()


# -- in the child ---------------------------------------------------------------------


def die_with_parent(name: str) -> None:
    """Make this child process die with its parent (kill -9 included) instead of lingering
    with its connections, and name it for ps and top (Linux; elsewhere a no-op)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]))
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the arming
        os._exit(1)


def _child_main(
    sock: socket.socket, name: str, factory: Callable[..., object], args: tuple[object, ...]
) -> None:
    die_with_parent(name)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with sock:
        try:
            target = factory(*args)
        except Exception as exc:
            _reply(sock, name, False, exc)
            return
        gc.freeze()  # as in the worker (agents.app): full collections skip the start-up objects
        _reply(sock, name, True, os.getpid())
        while (request := _receive(sock)) is not None:
            try:
                method, call_args = pickle.loads(request)
                value: Any = loop.run_until_complete(getattr(target, method)(*call_args))
            except Exception as exc:
                _reply(sock, name, False, exc)
            else:
                _reply(sock, name, True, value)


def _receive(sock: socket.socket) -> bytearray | None:
    """The next request, or None once the worker has closed its end."""
    header = _receive_exactly(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    return _receive_exactly(sock, size)


def _receive_exactly(sock: socket.socket, size: int) -> bytearray | None:
    buffer = bytearray(size)  # filled in place: a batch is read without a copy
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return buffer


def _reply(sock: socket.socket, name: str, ok: bool, value: object) -> None:
    if isinstance(value, BaseException):
        value.add_note(
            f"raised in the {name} process:\n{''.join(traceback.format_exception(value))}"
        )
    try:
        payload = pickle.dumps((ok, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an exception or result that does not pickle
        payload = pickle.dumps((False, RuntimeError(f"{name}: unpicklable reply: {exc!r}")))
    with contextlib.suppress(OSError):  # the worker closed its end: nobody waits for this
        sock.sendall(_HEADER.pack(len(payload)) + payload)
