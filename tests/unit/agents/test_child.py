"""The worker's child processes (agents/child.py): calls in order, errors back, death noticed."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

import pytest

from agents.child import ChildDied, ChildProcess


class Unbuildable:
    def __init__(self) -> None:
        raise RuntimeError("no Redis URL")


class Counter:
    """Built in the child; its state lives there between calls."""

    def __init__(self, start: int) -> None:
        self.value = start

    async def add(self, n: int) -> int:
        await asyncio.sleep(0)
        self.value += n
        return self.value

    async def fail(self) -> None:
        raise ValueError("bad input")

    async def where(self) -> tuple[int, int]:
        return os.getpid(), os.getppid()

    async def slow_add(self, n: int, seconds: float) -> int:
        await asyncio.sleep(seconds)
        return await self.add(n)


def _name(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _running(pid: int | None) -> bool:
    return Path(f"/proc/{pid}").exists()


async def _call_until_it_fails(child: ChildProcess) -> None:
    for _ in range(50):  # the pool notices a death within a call or two
        await child.call("add", 1)
        await asyncio.sleep(0.1)


async def test_calls_run_in_the_named_child_in_order_and_keep_its_state() -> None:
    child = ChildProcess("spm-test", Counter, 10)
    await child.start()
    try:
        assert child.pid is not None
        assert _name(child.pid) == "spm-test"
        assert await child.call("where") == (child.pid, os.getpid())
        assert [await child.call("add", n) for n in (1, 2, 3)] == [11, 13, 16]
        with pytest.raises(ValueError, match="bad input"):
            await child.call("fail")
        assert await child.call("add", 0) == 16, "an exception does not lose the child"
    finally:
        await child.close()


async def test_a_call_cancelled_in_flight_still_runs_and_the_next_call_gets_its_own_reply() -> None:
    child = ChildProcess("spm-test", Counter, 0)
    await child.start()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(child.call("slow_add", 5, 0.5), timeout=0.05)
        # Replies come back in order: the cancelled call's is read and dropped.
        assert await child.call("add", 1) == 6
    finally:
        await child.close()


async def test_an_error_carries_the_childs_traceback_and_no_helper_threads_run() -> None:
    before = set(threading.enumerate())
    child = ChildProcess("spm-test", Counter, 0)
    await child.start()
    try:
        with pytest.raises(ValueError, match="bad input") as raised:
            await child.call("fail")
        assert any("raised in the spm-test process" in note for note in raised.value.__notes__)
        assert any("in fail" in note for note in raised.value.__notes__)
        await child.call("add", 1)
        # The worker's loop talks to the child itself: threads would take the GIL from Faust.
        assert set(threading.enumerate()) == before
    finally:
        await child.close()


async def test_a_killed_child_raises_child_died_and_a_closed_one_starts_anew() -> None:
    child = ChildProcess("spm-test", Counter, 0)
    await child.start()
    first = child.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(ChildDied):
        await _call_until_it_fails(child)
    await child.close()
    await child.start()
    try:
        assert child.pid not in (None, first)
        assert await child.call("add", 5) == 5, "a new child, built anew"
    finally:
        await child.close()


async def test_close_lets_the_call_in_flight_finish() -> None:
    child = ChildProcess("spm-test", Counter, 0)
    await child.start()
    in_flight = asyncio.create_task(child.call("slow_add", 5, 0.3))
    await asyncio.sleep(0.1)  # the request is in the child
    await child.close()
    assert await in_flight == 5, "a graceful stop answers the batch in flight"


async def test_close_stops_the_child() -> None:
    child = ChildProcess("spm-test", Counter, 0)
    await child.start()
    pid = child.pid
    await child.close()
    assert child.pid is None
    assert not _running(pid), "the child outlived close()"
    with pytest.raises(ChildDied, match="not started"):
        await child.call("add", 1)


async def test_a_child_whose_object_cannot_be_built_fails_every_start() -> None:
    child = ChildProcess("spm-test", Unbuildable)
    with pytest.raises(ChildDied):
        await child.start()
    with pytest.raises(ChildDied):  # spawned again, not taken for started
        await child.start()
    assert child.pid is None
