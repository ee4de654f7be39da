"""Replay rebuilds all state: a fresh deployment replaying the topic from the start ends with
exactly the same Redis state (every counter, board, dedupe set, ramp fact and watermark)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from spm_stream.config.settings import Settings
from spm_stream.devtools.generator import Generator
from spm_stream.store.redis_store import Store
from tests.fixtures import produce, wait_for_processed

pytestmark = pytest.mark.integration


async def _dump(redis: Redis, prefix: str) -> dict[str, Any]:
    """Every key under a prefix with its value, the prefix itself taken out of the names."""
    state: dict[str, Any] = {}
    async for key in redis.scan_iter(prefix + ":*", count=1000):
        kind = await redis.type(key)
        value: Any
        if kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        else:
            value = await redis.get(key)
        state[key.removeprefix(prefix)] = (kind, value)
    return state


async def test_a_fresh_replay_rebuilds_identical_state(
    settings: Settings, store: Store, start_worker
) -> None:
    gen = Generator(teams=2, reps_per_team=4, seed=21, duplicate_rate=0.02, invalid_rate=0.01)
    start = datetime(2026, 10, 1, 8, tzinfo=UTC)
    records = gen.hires(start)
    while len(records) < 20_000:
        records.extend(gen.records(start + timedelta(minutes=3) * len(records)))
    produce(settings, records)
    quiet = {
        "SPM_LEADERBOARD_INTERVAL_S": "0",  # Slack message ids would differ by design
        # The rules timer advances watches and awards badges on the wall clock, in slices,
        # while the state is dumped; its rebuild is tested on a driven clock in test_alerts.
        "SPM_RULES_INTERVAL_S": "0",
    }

    first = start_worker(**quiet)
    await wait_for_processed(store, len(records), first)
    first.stop()

    tag = uuid.uuid4().hex[:8]
    again = settings.model_copy(update={"app_id": f"rebuild-{tag}", "redis_prefix": f"rb-{tag}"})
    rebuilt_store = Store.from_settings(again)
    try:
        second = start_worker(
            SPM_APP_ID=again.app_id,
            SPM_REDIS_PREFIX=again.redis_prefix,
            SPM_BATCH_SIZE="137",
            **quiet,
        )  # other batch boundaries too
        await wait_for_processed(rebuilt_store, len(records), second)
        original = await _dump(store.redis, settings.redis_prefix)
        rebuilt = await _dump(rebuilt_store.redis, again.redis_prefix)
        assert len(original) > 100
        assert rebuilt == original
    finally:
        await rebuilt_store.close()
