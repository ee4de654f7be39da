"""The KPI engine live: Kafka → worker → Redis gives exactly what the offline report gives."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from spm_stream.config.scopes import ORG
from spm_stream.config.settings import Settings
from spm_stream.config.targets import Targets
from spm_stream.contract.events import parse_event
from spm_stream.counting.planning import plan_event
from spm_stream.devtools.generator import Generator
from spm_stream.reports.query import live_report
from spm_stream.reports.report import fold
from spm_stream.store.redis_store import Store
from spm_stream.time.windows import PERIOD_KINDS
from tests.fixtures import directory, fresh_store, produce, wait_for_processed
from tests.golden import AT, TARGETS, TARGETS_YAML, UTC_ROUTING, goldens, offline_one

pytestmark = pytest.mark.integration


async def _live(
    store: Store, scope: str, scope_id: str, kind: str, at: date, targets: Targets = TARGETS
) -> dict:
    return await live_report(
        store,
        routing=UTC_ROUTING,
        targets=targets,
        scope=scope,
        scope_id=scope_id,
        kind=kind,
        at=at,
    )


async def test_worked_examples_live_equal_offline(
    env: dict[str, str], settings: Settings, store: Store, start_worker, tmp_path: Path
) -> None:
    targets_file = tmp_path / "targets.yaml"
    targets_file.write_text(TARGETS_YAML, encoding="utf-8")
    # Targets may only name teams of the people file: add the golden quota team to it.
    people = directory(env["SPM_TEST_TAG"])
    people["teams"]["g-quota"] = {"name": "Quota"}
    config = tmp_path / "people-with-quota.yaml"
    config.write_text(yaml.safe_dump(people), encoding="utf-8")
    files = {"SPM_TARGETS": str(targets_file), "SPM_CONFIG": str(config)}
    events = [e for g in goldens() for e in g.events]
    produce(settings, [(json.loads(e)["rep_id"].encode(), e) for e in events])
    worker = start_worker(**files)
    await wait_for_processed(store, len(events), worker)

    ledger = fold(events, UTC_ROUTING)
    for golden in goldens():
        live = await _live(store, golden.scope, golden.id, golden.period, AT)
        offline = offline_one(ledger, golden.scope, golden.id, golden.period)
        assert live == offline, golden.name
        for key, value in golden.expected.items():
            assert (
                live["kpis"][key] == pytest.approx(value)
                if isinstance(value, float)
                else (live["kpis"][key] == value)
            ), f"{golden.source}: {key}"

    # The same object over HTTP and from the CLI.
    web = f"http://127.0.0.1:{env['SPM_WEB_PORT']}"
    bearer = {"Authorization": f"Bearer {env['SPM_API_TOKEN']}"}
    async with aiohttp.ClientSession(headers=bearer) as http:
        query = {"scope": "team", "id": "g-quota", "period": "month", "at": AT.isoformat()}
        async with http.get(web + "/kpis", params=query) as response:
            assert response.status == 200
            over_http = await response.json()
        async with http.get(web + "/kpis", params={"scope": "team", "period": "month"}) as bad:
            assert bad.status == 400
            assert "id" in (await bad.json())["error"]
    assert over_http == await _live(store, "team", "g-quota", "month", AT)
    assert over_http["kpis"]["quota_attainment"] == {"USD": 80.0}
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "spm_stream",
        "kpis",
        "--scope",
        "team",
        "--id",
        "g-quota",
        "--period",
        "month",
        "--at",
        AT.isoformat(),
        "--format",
        "json",
        env={**os.environ, **env, **files},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, stderr.decode()
    assert json.loads(stdout) == over_http


EVENTS_100K = 100_000


async def test_100k_generated_events_live_equal_offline_for_every_scope_and_period(
    settings: Settings, store: Store, start_worker, tmp_path: Path
) -> None:
    gen = Generator(teams=3, reps_per_team=5, seed=11, duplicate_rate=0.01, invalid_rate=0.002)
    start = datetime(2026, 7, 1, 8, tzinfo=UTC)
    records = gen.hires(start)
    step = timedelta(days=150) / EVENTS_100K
    while len(records) < EVENTS_100K:
        records.extend(gen.records(start + step * len(records)))
    records = records[:EVENTS_100K]
    # CRMs deliver late: shuffle within windows of 500 records (hours out of order).
    rng = random.Random(5)
    for i in range(0, len(records), 500):
        window = records[i : i + 500]
        rng.shuffle(window)
        records[i : i + 500] = window
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(value for _, value in records) + b"\n")

    produce(settings, records)
    worker = start_worker()
    stats = await wait_for_processed(store, EVENTS_100K, worker, timeout_s=600)

    with file.open("rb") as lines:
        ledger = fold(lines, UTC_ROUTING)
    assert (stats.counted, stats.rejected) == (ledger.counted, ledger.rejected)
    assert stats.duplicates == ledger.duplicates
    targets = Targets()
    ids = (
        [("org", ORG)]
        + [("team", t) for t in ledger.ids("team")]
        + [("rep", r) for r in ledger.ids("rep")]
    )
    assert len(ids) == 1 + 3 + 15
    checked = 0
    for at in (date(2026, 7, 15), date(2026, 9, 30), date(2026, 11, 2), date(2026, 11, 28)):
        for scope, sid in ids:
            for kind in PERIOD_KINDS:
                expected = offline_one(ledger, scope, sid, kind, at, targets)
                assert await _live(store, scope, sid, kind, at, targets) == expected, (
                    scope,
                    sid,
                    kind,
                    at,
                )
                checked += 1
    assert checked == 4 * len(ids) * len(PERIOD_KINDS)
    org_year = await _live(store, "org", ORG, "year", date(2026, 11, 2), targets)
    kpis = org_year["kpis"]
    # The stream exercises every KPI: none is "no data" over the year (no quota is set).
    assert [k for k in kpis if kpis[k] is None] == ["quota_attainment"]
    assert set(kpis["total_revenue"]) == {"EUR", "USD"}
    assert kpis["deals_without_cycle"] > 0


_POOL = [e for g in goldens() for e in g.events[:6]]


@hsettings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picked=st.lists(st.integers(0, len(_POOL) - 1), min_size=1, max_size=40, unique=True),
    seed=st.integers(0, 2**16),
)
async def test_redelivered_and_duplicated_batches_change_no_kpi(
    store: Store, picked: list[int], seed: int
) -> None:
    """Apply a stream in random batches with redeliveries (crashes) and CRM duplicates."""
    # A key prefix per example: cheaper than scanning a shared Redis for the last one's keys.
    store = fresh_store(store)
    rng = random.Random(seed)
    events = [_POOL[i] for i in picked]
    log = events + [rng.choice(events) for _ in range(rng.randint(0, 5))]  # duplicates
    plans = [
        plan_event(parse_event(raw), offset=i, partition=0, keys=store.keys, routing=UTC_ROUTING)
        for i, raw in enumerate(log)
    ]
    position = 0
    while position < len(plans):
        end = min(len(plans), position + rng.randint(1, 8))
        await store.apply({0: plans[rng.randint(0, position) : end]})
        position = end
    ledger = fold(log, UTC_ROUTING)
    for scope, sid in [("org", ORG), *(("team", t) for t in ledger.ids("team"))]:
        expected = offline_one(ledger, scope, sid, "month")
        assert await _live(store, scope, sid, "month", AT) == expected
