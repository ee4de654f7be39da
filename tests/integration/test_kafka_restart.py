"""Apache Kafka stopped and started mid-stream: the worker reconnects, nothing lost or
double-counted. Needs a broker of its own that keeps its log on disk (not the in-memory
embedded one): started from the Maven Central jars by scripts/services.sh."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from kafka.errors import KafkaError

from agents import rules
from agents.rules import KafkaPublish
from spm_stream.config.settings import Settings
from spm_stream.ingestion.topics import ensure_topics
from spm_stream.rules.alerts import Alert, Recipient
from spm_stream.store.redis_store import Store
from tests import crm
from tests.fixtures import (
    OwnKafka,
    call_stream,
    survives_kafka_restart,
    wait_for_processed,
    wait_until_serving,
)
from tests.integration.test_webhooks import webhook_env

pytestmark = pytest.mark.integration

TOTAL = 60_000


async def test_kafka_stop_and_start_mid_stream(
    own_kafka: OwnKafka, settings: Settings, store: Store, start_worker
) -> None:
    records = call_stream("y", TOTAL, reps=8)
    await survives_kafka_restart(
        own_kafka,
        settings,
        store,
        start_worker,
        records,
        SPM_BATCH_SIZE="200",
        SPM_BATCH_WINDOW_MS="20",
    )


async def test_a_webhook_is_answered_503_while_kafka_is_down_and_counted_once_after(
    own_kafka: OwnKafka,
    env: dict[str, str],
    settings: Settings,
    store: Store,
    start_worker,
    tmp_path: Path,
) -> None:
    """The CRM is told to retry while the broker cannot acknowledge; its retry counts once."""
    own = settings.model_copy(update={"kafka_url": own_kafka.url.removeprefix("kafka://")})
    ensure_topics(own)
    hooks = webhook_env(env, tmp_path) | {"SPM_WEBHOOK_ACK_TIMEOUT_S": "3"}
    worker = start_worker(SPM_KAFKA_URL=own_kafka.url, **hooks)
    won = crm.sample("close-opportunity-won.json")
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)

        async def post() -> int:
            url = worker.web + "/webhooks/close"
            async with http.post(url, data=won, headers=crm.close_headers(won)) as response:
                return response.status

        assert await post() == 200
        await wait_for_processed(store, 1, worker)
        own_kafka.run("kafka-stop")
        assert await post() == 503
        own_kafka.run("kafka-start")
        # The CRM retries until it gets a 200 (Close: exponential backoff for 72 hours).
        deadline = asyncio.get_running_loop().time() + 120
        while await post() != 200:
            assert asyncio.get_running_loop().time() < deadline, worker.tail()
            await asyncio.sleep(2)
    await wait_for_processed(store, 2, worker, timeout_s=120)
    await asyncio.sleep(3)
    stats = await store.stats()
    # Two or three deliveries of one won deal (the producer may still have delivered the
    # one answered 503): counted once.
    assert stats.processed in (2, 3)
    assert stats.counted == 1
    assert (await store.counts("rep", "rep-2", "day:2026-11-02")).get("deal.won") == 1


async def test_the_rules_publish_gives_up_within_its_bound_while_kafka_is_down(
    own_kafka: OwnKafka, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rules tick with the broker gone fails after the ack bound, not after
    kafka-python's two-minute delivery timeout, so the next tick can retry."""
    bound = 3.0
    monkeypatch.setattr(rules, "_ACK_TIMEOUT_S", bound)  # 30 s in production
    own = settings.model_copy(update={"kafka_url": own_kafka.url.removeprefix("kafka://")})
    ensure_topics(own)
    publish = KafkaPublish(own)
    alert = Alert("deal.big", "rep-1", "k1", Recipient("person", "rep-1"), datetime.now(UTC))
    try:
        await publish([alert])  # connected, and acked
        own_kafka.run("kafka-stop")
        started = time.monotonic()
        with pytest.raises(KafkaError):
            await publish([alert])
        assert time.monotonic() - started < bound + 5
    finally:
        # Left running, its sender thread would retry for two minutes, drawing jitter from
        # `random`, which the hypothesis tests after this one check nobody touches. Its
        # close flushes first, so the broker comes back for the pending alert.
        own_kafka.run("kafka-start")
        publish.close(timeout_s=30)
