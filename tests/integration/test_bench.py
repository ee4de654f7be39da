"""`spm-stream bench` runs end to end and reports every field (no speed is asserted here:
speed targets live in BENCHMARKS.md, never in tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from kafka.admin import KafkaAdminClient
from redis import Redis

from spm_stream.config.settings import load_settings
from tests.fixtures import Services

pytestmark = pytest.mark.integration

FIELDS = {
    "events_per_s",
    "ceiling_events_per_s",
    "faust_noop_events_per_s",
    "ratio",
    "ratio_to_faust_noop",
    "ratio_to_faust_noop_paired",
    "p50_ms",
    "p99_ms",
    "ack_p50_ms",
    "ack_p99_ms",
    "rss_mb",
    "rebuild_1p_events_per_s",
    "rebuild_1p_ratio",
    "rebuild_2p_events_per_s",
    "rebuild_2p_ratio",
}


def _bench_leftovers(services: Services) -> tuple[set[str], set[bytes]]:
    """Topics and Redis keys named like a benchmark run's."""
    servers = load_settings(kafka_url=services.kafka_url).bootstrap_servers
    admin = KafkaAdminClient(bootstrap_servers=servers)
    redis = Redis.from_url(services.redis_url)
    try:
        topics = {t for t in admin.list_topics() if t.startswith("bench-")}
        return topics, set(redis.scan_iter(match="bench-*", count=1000))
    finally:
        admin.close()
        redis.close()


def test_bench_reports_every_field(services: Services) -> None:
    env = {**os.environ, "SPM_KAFKA_URL": services.kafka_url, "SPM_REDIS_URL": services.redis_url}
    topics_before, keys_before = _bench_leftovers(services)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spm_stream",
            "bench",
            "--events",
            "3000",
            "--latency-rate",
            "200",
            "--latency-seconds",
            "1",
            "--rounds",
            "2",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) >= FIELDS
    assert result["events"] == 3000
    assert result["latency_samples"] == 200
    assert len(result["rounds"]) == 2
    assert result["events_per_s"] == pytest.approx(
        sum(r["events_per_s"] for r in result["rounds"]) / 2, abs=1
    )  # the median of two
    for r in result["rounds"]:
        assert r["ratio_to_faust_noop"] == pytest.approx(
            r["events_per_s"] / r["faust_noop_events_per_s"], abs=0.002
        )
    assert result["ratio_to_faust_noop_paired"] == pytest.approx(
        sum(r["ratio_to_faust_noop"] for r in result["rounds"]) / 2, abs=0.002
    )
    assert all(result[f] > 0 for f in FIELDS)
    assert result["ratio"] == pytest.approx(
        result["events_per_s"] / result["ceiling_events_per_s"], abs=0.002
    )
    # Each rebuild read the whole topic into its own keys, and says where its time went.
    assert [r["processes"] for r in result["rebuild"]] == [1, 2]
    for r in result["rebuild"]:
        assert r["events"] == 3000
        assert r["processes_used"] == r["processes"]  # 4 partitions: enough for both
        assert r["ratio"] == pytest.approx(
            r["events_per_s"] / result["ceiling_events_per_s"], abs=0.002
        )
        assert set(r["profile_us"]) == {"fetch", "plan", "apply_wait", "cpu", "redis_lua"}
        assert r["profile_us"]["cpu"] > 0
        assert r["profile_us"]["redis_lua"] > 0
    # The run's topics and keys are gone from the services it used (a deleted topic
    # may stay listed for a moment).
    deadline = time.monotonic() + 15
    while True:
        topics_after, keys_after = _bench_leftovers(services)
        if topics_after <= topics_before or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert topics_after <= topics_before
    assert keys_after <= keys_before
