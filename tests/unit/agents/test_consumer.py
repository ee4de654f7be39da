"""The worker's Kafka consumer: Faust's, with our fetch wait (agents/faust_compat.py)."""

from __future__ import annotations

import asyncio

from agents.app import new_faust_app
from spm_stream.config.settings import load_settings


def test_the_worker_consumer_fetches_with_the_configured_wait_not_fausts_1500_ms() -> None:
    async def build() -> int:
        settings = load_settings(kafka_url="kafka://127.0.0.1:9", kafka_fetch_max_wait_ms=250)
        app = new_faust_app(settings)
        # Built, not started: nothing connects to the (absent) broker.
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(build()) == 250


def test_the_default_fetch_wait_is_short() -> None:
    assert load_settings(kafka_url="kafka://127.0.0.1:9").kafka_fetch_max_wait_ms == 100
