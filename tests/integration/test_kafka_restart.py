"""Apache Kafka stopped and started mid-stream: the worker reconnects, nothing lost or
double-counted. Needs a broker of its own that keeps its log on disk (not the in-memory
embedded one): started from the Maven Central jars by scripts/services.sh."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from spm_stream.embedded import free_port
from spm_stream.settings import Settings
from spm_stream.store import Store
from spm_stream.topics import ensure_topics
from tests.integration.conftest import (
    advance,
    assert_counted_once,
    call_stream,
    produce,
    wait_for_processed,
)

pytestmark = pytest.mark.integration

SERVICES = Path(__file__).parents[2] / "scripts" / "services.sh"
TOTAL = 60_000


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


async def test_kafka_stop_and_start_mid_stream(
    own_kafka: OwnKafka, settings: Settings, store: Store, start_worker
) -> None:
    own = settings.model_copy(update={"kafka_url": own_kafka.url.removeprefix("kafka://")})
    ensure_topics(own)
    records = call_stream("y", TOTAL, reps=8)
    produce(own, records)
    worker = start_worker(
        SPM_KAFKA_URL=own_kafka.url, SPM_BATCH_SIZE="200", SPM_BATCH_WINDOW_MS="20"
    )
    await advance(store, 5_000, TOTAL, worker)
    own_kafka.run("kafka-stop")
    await asyncio.sleep(5)
    assert worker.alive(), worker.tail()
    own_kafka.run("kafka-start")
    await wait_for_processed(store, TOTAL, worker, timeout_s=300)
    await asyncio.sleep(2)
    await assert_counted_once(store, records)
