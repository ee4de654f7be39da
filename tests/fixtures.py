"""The pytest plugin of real services: Kafka and Redis from SPM_KAFKA_URL/SPM_REDIS_URL,
otherwise the embedded broker and Redis. In CI (CI=true) they must be given: these tests
never skip silently there.

Each test gets its own topic, consumer group and Redis key prefix, so tests share one
broker and one Redis without seeing each other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from kafka import KafkaConsumer, TopicPartition

from spm_stream.config.settings import Settings, load_settings
from spm_stream.devtools.bench import clean_up
from spm_stream.devtools.embedded import (
    EMBEDDED_SESSION_TIMEOUT_S,
    embedded_services,
    free_port,
    redis_server_binary,
    spawn,
    stop,
    wait_for_port,
)
from spm_stream.devtools.slack_server import SlackState, serve
from spm_stream.ingestion import replay
from spm_stream.ingestion.topics import ensure_topics
from spm_stream.store.redis_store import Stats, Store


@dataclass(frozen=True)
class Services:
    kafka_url: str
    redis_url: str
    embedded: bool


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    kafka, redis = os.environ.get("SPM_KAFKA_URL"), os.environ.get("SPM_REDIS_URL")
    if kafka and redis:
        yield Services(kafka, redis, embedded=False)
        return
    if os.environ.get("CI"):
        pytest.fail(
            "CI must run the integration tests against real services: "
            "set SPM_KAFKA_URL and SPM_REDIS_URL (see .ci/run)"
        )
    with embedded_services(tmp_path_factory.mktemp("embedded")) as emb:
        yield Services(emb.kafka_url, emb.redis_url, embedded=True)


@dataclass
class SlackFixture:
    base_url: str
    page: str
    state: SlackState


@pytest.fixture(scope="session")
def slack() -> Iterator[SlackFixture]:
    """The local Slack server, in a thread of its own (reachable from worker processes too)."""
    port = free_port()
    state = SlackState()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = loop.run_until_complete(serve("127.0.0.1", port, state))
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield SlackFixture(f"http://127.0.0.1:{port}/api/", f"http://127.0.0.1:{port}/", state)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def directory(tag: str) -> dict[str, Any]:
    """The test deployment's people and teams; channels are unique per test."""
    return {
        "timezone": "UTC",
        "teams": {
            "t1": {"name": "Team One", "channel": f"#t1-{tag}"},
            "t2": {"name": "Team Two", "channel": f"#t2-{tag}"},
        },
        "people": {
            "rep-1": {"name": "Ana", "team": "t1"},
            "rep-2": {"name": "Ben", "team": "t1"},
            "rep-3": {"name": "Chloé", "team": "t2"},
        },
        # Badges and rank celebrations would post to the team channels these tests read;
        # tests/integration/test_alerts.py covers them.
        "gamification": {"enabled": False},
    }


@pytest.fixture
def env(services: Services, slack: SlackFixture, tmp_path: Path) -> Iterator[dict[str, str]]:
    """SPM_* variables of an isolated deployment for this test; afterwards its Redis keys
    and topics are deleted (all named "it-<tag>…"), so that a developer's Redis and Kafka
    do not fill up run after run."""
    tag = uuid.uuid4().hex[:8]
    config = tmp_path / "people.yaml"
    config.write_text(yaml.safe_dump(directory(tag)), encoding="utf-8")
    values = {
        "SPM_KAFKA_URL": services.kafka_url,
        "SPM_REDIS_URL": services.redis_url,
        "SPM_APP_ID": f"it-{tag}",
        "SPM_TEST_TAG": tag,
        "SPM_TOPIC": f"it-{tag}-events",
        "SPM_DLQ_TOPIC": f"it-{tag}-dlq",
        "SPM_ALERTS_TOPIC": f"it-{tag}-alerts",
        "SPM_REDIS_PREFIX": f"it-{tag}",
        "SPM_CONFIG": str(config),
        "SPM_DATA_DIR": str(tmp_path / "faust"),
        "SPM_WEB_PORT": str(free_port()),
        "SPM_SLACK_BASE_URL": slack.base_url,
        "SPM_SLACK_TOKEN": "xoxb-test",
        # As in production: the read API wants this bearer token (tests/integration/conftest).
        "SPM_API_TOKEN": f"api-{tag}",
        "SPM_LEADERBOARD_INTERVAL_S": "1",
        "SPM_KAFKA_SESSION_TIMEOUT_S": str(EMBEDDED_SESSION_TIMEOUT_S),
        "SPM_LOG_LEVEL": "info",
    }
    original = dict(values)  # a test may change its copy
    yield values
    # Best effort (a test may have left the broker stopped, or its config broken): never
    # a teardown error, at most a warning in the log.
    try:
        clean_up(
            _settings_of(original),
            redis=True,
            kafka=True,
            say=lambda line: None,
            kafka_timeout_s=5,
            topic_prefix=f"it-{tag}",
        )
    except Exception as exc:
        logging.getLogger("tests.fixtures").warning("no clean-up of it-%s: %r", tag, exc)


def _settings_of(env: dict[str, str]) -> Settings:
    return load_settings(**{k.removeprefix("SPM_").lower(): v for k, v in env.items()})


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    settings = _settings_of(env)
    ensure_topics(settings)
    return settings


@pytest.fixture
async def store(settings: Settings) -> Any:
    store = Store.from_settings(settings)
    yield store
    await store.close()


def fresh_store(store: Store) -> Store:
    """The store on keys of its own, under the test's prefix (so deleted with its keys)."""
    return Store(
        store.redis,
        replace(store.keys, prefix=f"{store.keys.prefix}-{uuid.uuid4().hex[:8]}"),
        store.ttls,
    )


class Worker:
    """A `spm-stream worker` process, as production runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.web = f"http://127.0.0.1:{env['SPM_WEB_PORT']}"
        token = env.get("SPM_API_TOKEN")
        #: Headers of a read API request (/stats, /kpis, /leaderboard, /tv).
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.proc: subprocess.Popen[bytes] = spawn(
            [sys.executable, "-m", "spm_stream", "worker"], log, env={**os.environ, **env}
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        stop(self.proc, 30.0)
        return int(self.proc.returncode)

    async def consumed(self) -> int:
        """Records this worker consumed so far (its /stats), 0 before its web server is up."""
        try:
            async with (
                aiohttp.ClientSession(headers=self.auth) as http,
                http.get(self.web + "/stats") as response,
            ):
                return int((await response.json())["worker"]["consumed"])
        except aiohttp.ClientError:
            return 0

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def children(self, name: str) -> list[int]:
        """Pids of this worker's child processes named ``name`` (spm-ingest, spm-rules)."""
        found: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() == name:
                        found.append(int(child))
                except OSError:
                    continue  # exited since the parent listed it
        return found


@pytest.fixture
def start_worker(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(**overrides: str) -> Worker:
        # The first worker serves on the test's SPM_WEB_PORT; others need ports of their own.
        port = env["SPM_WEB_PORT"] if not workers else str(free_port())
        worker = Worker(
            {**env, "SPM_WEB_PORT": port, **overrides}, tmp_path / f"worker-{len(workers)}.log"
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


async def wait_for_processed(
    store: Store, expected: int, *workers: Worker, timeout_s: float = 120.0
) -> Stats:
    """Wait until the store has handled ``expected`` records; fail with the worker's log."""
    deadline = time.monotonic() + timeout_s
    stats = await store.stats()
    while stats.processed < expected:
        for worker in workers:
            if not worker.alive():
                pytest.fail(f"worker died:\n{worker.tail()}")
        if time.monotonic() > deadline:
            logs = "\n---\n".join(w.tail() for w in workers)
            pytest.fail(f"only {stats.processed}/{expected} processed after {timeout_s}s\n{logs}")
        await asyncio.sleep(0.2)
        stats = await store.stats()
    return stats


def run_cli(
    env: dict[str, str], *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``spm-stream ARGS`` in a child process with the test's SPM_* variables."""
    return subprocess.run(
        [sys.executable, "-m", "spm_stream", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def produce(settings: Settings, records: list[tuple[bytes | None, bytes]]) -> None:
    """Send records to the input topic and wait for the broker's acks (as the CLI does)."""
    replay.produce(settings, records)


def read_topic(settings: Settings, topic: str, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """All records of a topic (no consumer group: works on every broker)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def call_stream(tag: str, total: int, reps: int) -> list[tuple[bytes, bytes]]:
    """``total`` activity.call events on 2 Nov 2026, round-robin over ``reps`` reps, keyed."""
    from tests.events import event

    names = [f"rep-{i}" for i in range(1, reps + 1)]
    return [
        (names[i % reps].encode(), event(f"{tag}-{i}", rep=names[i % reps])) for i in range(total)
    ]


async def advance(store: Store, by: int, total: int, *workers: Worker) -> int:
    """Wait until ``by`` more records are processed; fail if the stream already ended."""
    target = (await store.stats()).processed + by
    while (processed := (await store.stats()).processed) < target:
        for worker in workers:
            assert worker.alive(), worker.tail()
        await asyncio.sleep(0.05)
    assert processed < total, "the stream ended before the fault: proved nothing"
    return processed


async def assert_counted_once(store: Store, records: list[tuple[bytes, bytes]]) -> None:
    """Every record of a ``call_stream`` counted exactly once, for every rep."""
    stats = await store.stats()
    assert (stats.processed, stats.counted, stats.duplicates) == (len(records),) * 2 + (0,)
    for rep, n in Counter(key.decode() for key, _ in records).items():
        assert await store.counts("rep", rep, "day:2026-11-02") == {"activity.call": n}


async def accept(notifier: Any, alert: Any, now: Any) -> str:
    """What became of one alert the notifier accepted (``accept_many`` of one)."""
    (status,) = await notifier.accept_many([alert], now)
    return str(status)


def written(path: Path, text: str) -> Path:
    """``path`` with ``text`` in it (UTF-8): a config file for a test."""
    path.write_text(text, encoding="utf-8")
    return path


async def wait_for(predicate: Any, timeout_s: float, what: str, *workers: Worker) -> None:
    """Wait until ``predicate()`` holds; fail naming ``what``, with the workers' logs."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            logs = "\n---\n".join(w.tail() for w in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.1)


async def wait_until_serving(http: aiohttp.ClientSession, base: str, worker: Any) -> None:
    """Wait until the worker at ``base`` answers /health with 200; fail with its log."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert worker.alive(), worker.tail()
        try:
            async with http.get(base + "/health") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    pytest.fail(f"worker web server not up:\n{worker.tail()}")


# -- services of a test's own, to stop and start mid-stream ---------------------------


class OwnRedis:
    """A Redis server of this test's own, with AOF, that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = spawn(
            [
                redis_server_binary(),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            self.workdir / "redis.log",
        )
        wait_for_port(self.port, "test redis")


SERVICES = Path(__file__).parents[1] / "scripts" / "services.sh"


class OwnKafka:
    """An Apache Kafka broker (KRaft) of this test's own, on free ports, data kept on disk."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.controller = free_port(), free_port()
        self.env = {
            **os.environ,
            "SPM_SERVICES_DIR": str(workdir),
            "SPM_KAFKA_PORT": str(self.port),
            "SPM_KAFKA_CONTROLLER_PORT": str(self.controller),
        }
        self.url = f"kafka://127.0.0.1:{self.port}"

    def run(self, command: str) -> None:
        done = subprocess.run(
            ["bash", str(SERVICES), command],
            env=self.env,
            timeout=300,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture
def own_kafka(tmp_path: Path):
    if not (shutil.which("java") and shutil.which("mvn")):
        if os.environ.get("CI"):
            pytest.fail("CI must run the Kafka restart test: java and mvn are missing")
        pytest.skip("needs Java and Maven to run an Apache Kafka broker of its own")
    kafka = OwnKafka(tmp_path / "kafka-services")
    kafka.run("kafka-start")
    yield kafka
    kafka.run("kafka-stop")


async def survives_kafka_restart(
    own_kafka: OwnKafka,
    settings: Settings,
    store: Store,
    start_worker: Callable[..., Worker],
    records: list[tuple[bytes, bytes]],
    **worker_env: str,
) -> None:
    """The fault scenario of the live and the bulk path alike: a worker on a broker of its
    own, which is stopped once the worker is under way and started again 5 s later; every
    record is then counted exactly once."""
    own = settings.model_copy(update={"kafka_url": own_kafka.url.removeprefix("kafka://")})
    ensure_topics(own)
    produce(own, records)
    worker = start_worker(SPM_KAFKA_URL=own_kafka.url, **worker_env)
    await advance(store, len(records) // 12, len(records), worker)
    own_kafka.run("kafka-stop")
    await asyncio.sleep(5)
    assert worker.alive(), worker.tail()
    own_kafka.run("kafka-start")
    await wait_for_processed(store, len(records), worker, timeout_s=300)
    await asyncio.sleep(2)
    await assert_counted_once(store, records)
