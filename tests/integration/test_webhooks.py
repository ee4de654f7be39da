"""CRM webhooks end to end: signed HTTP → worker → Kafka → counters in Redis, rejects in the DLQ.

One worker process with every CRM endpoint enabled. Each CRM's sample payloads
(examples/crm, shaped as the CRM documents them) are posted with signatures
computed as the CRM computes them, some twice (a CRM retry), and the counters
are compared with what the samples contain. Forged and stale signatures,
oversized bodies and malformed JSON are refused or dead-lettered as documented.
Fuzzed payloads (fields deleted, retyped, bodies cut short, noise) never make an
endpoint fail: each is counted, ignored or dead-lettered with a reason.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from spm_stream.config.settings import Settings
from spm_stream.store.redis_store import Store
from tests import crm
from tests.fixtures import directory, read_topic, run_cli, wait_for_processed, wait_until_serving

pytestmark = pytest.mark.integration

DAY = "day:2026-11-02"


def webhook_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    config = directory(env["SPM_TEST_TAG"]) | {"crm": crm.mapping_config()}
    path = tmp_path / "spm-crm.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return {
        "SPM_CONFIG": str(path),
        "SPM_HUBSPOT_CLIENT_SECRET": crm.HUBSPOT_SECRET,
        "SPM_CLOSE_SIGNATURE_KEY": crm.CLOSE_KEY,
        "SPM_PIPEDRIVE_BASIC_AUTH": ":".join(crm.PIPEDRIVE_AUTH),
        "SPM_SALESFORCE_TOKEN": crm.SALESFORCE_TOKEN,
        "SPM_WEBHOOK_TOKEN": crm.EVENTS_TOKEN,
        "SPM_WEBHOOK_MAX_BYTES": "65536",
        "SPM_RULES_INTERVAL_S": "0",
    }


def add_salesforce_owner(config_file: Path, owner: str, rep: str) -> None:
    config = yaml.safe_load(config_file.read_text())
    config["crm"]["salesforce"]["owners"][owner] = rep
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")


async def test_each_crm_webhook_is_counted_once_and_bad_input_is_refused(
    env: dict[str, str], settings: Settings, store: Store, start_worker: Any, tmp_path: Path
) -> None:
    hooks = webhook_env(env, tmp_path)
    worker = start_worker(**hooks)
    base = worker.web
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, base, worker)

        async def post(path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            async with http.post(base + path, data=body, headers=headers) as response:
                return response.status, await response.read()

        async def hubspot(name: str, query: str = "") -> tuple[int, bytes]:
            url = f"{base}/webhooks/hubspot{query}"
            body = crm.sample(name)
            return await post(f"/webhooks/hubspot{query}", body, crm.hubspot_headers(url, body))

        async def close(name: str) -> tuple[int, bytes]:
            body = crm.sample(name)
            return await post("/webhooks/close", body, crm.close_headers(body))

        async def pipedrive(name: str) -> tuple[int, bytes]:
            return await post("/webhooks/pipedrive", crm.sample(name), crm.pipedrive_headers())

        async def salesforce(name: str) -> tuple[int, bytes]:
            path = f"/webhooks/salesforce?token={crm.SALESFORCE_TOKEN}"
            return await post(path, crm.sample(name), crm.salesforce_headers())

        # Refused before anything is produced.
        body = crm.sample("hubspot-deal-won.json")
        forged = crm.hubspot_headers(base + "/webhooks/hubspot", body, secret="guessed")
        assert (await post("/webhooks/hubspot", body, forged))[0] == 401
        stale_at = int(time.time()) - 3600
        stale = crm.close_headers(crm.sample("close-call.json"), at=stale_at)
        assert (await post("/webhooks/close", crm.sample("close-call.json"), stale))[0] == 401
        assert (await post("/webhooks/pipedrive", b"{}", crm.pipedrive_headers(password="x")))[
            0
        ] == 401
        no_token = await post("/webhooks/salesforce", crm.sample("salesforce-tasks.xml"), {})
        assert no_token[0] == 401
        huge = b'{"pad": "' + b"x" * 70_000 + b'"}'
        assert (await post("/webhooks/close", huge, crm.close_headers(huge)))[0] == 413
        assert (await post("/webhooks/events", b"{}", {}))[0] == 401

        # Accepted: every sample, the won deals twice (a CRM retry must not double-count).
        for name in ("hubspot-deal-won.json", "hubspot-deal-won.json", "hubspot-call.json"):
            status, answer = await hubspot(name)
            assert status == 200, answer
        status, answer = await hubspot("hubspot-meeting-no-show.json", "?object=meeting")
        assert status == 200, answer
        status, answer = await hubspot("hubspot-subscription.json")
        assert (status, b'"rejected":[{"field":"subscriptionType"' in answer) == (200, True)
        for name in ("close-opportunity-won.json", "close-opportunity-won.json", "close-call.json"):
            assert (await close(name))[0] == 200
        assert (await close("close-meeting-rescheduled.json"))[0] == 200
        for name in (
            "pipedrive-deal-won-v2.json",
            "pipedrive-deal-won-v2.json",
            "pipedrive-call-v1.json",
        ):
            assert (await pipedrive(name))[0] == 200
        status, answer = await salesforce("salesforce-opportunity-won.xml")
        assert status == 200
        assert b"<Ack>true</Ack>" in answer
        assert (await salesforce("salesforce-tasks.xml"))[0] == 200
        # Signed but not JSON: nothing to retry, so 200 and a dead letter with the reason.
        garbage = b"{not json"
        assert (await post("/webhooks/close", garbage, crm.close_headers(garbage)))[0] == 200
        generic = (
            b'{"event_id": "gen-1", "type": "activity.email", '
            b'"occurred_at": "2026-11-02T11:00:00Z", "rep_id": "rep-3"}'
        )
        auth = {"Authorization": f"Bearer {crm.EVENTS_TOKEN}"}
        status, answer = await post("/webhooks/events", generic, auth)
        assert (status, b'"accepted":1' in answer) == (200, True)

    # 16 events produced (3 of them retries), all processed; 3 dead letters.
    await wait_for_processed(store, 16, worker)
    stats = await store.stats()
    assert (stats.counted, stats.duplicates) == (13, 3)
    rep1 = await store.counts("rep", "rep-1", DAY)
    assert {
        k: rep1.get(k)
        for k in ("deal.won", "meeting.no_show", "activity.call", "conversation.meaningful")
    } == {
        "deal.won": 2,
        "meeting.no_show": 1,
        "activity.call": 2,
        "conversation.meaningful": 1,
    }
    rep2 = await store.counts("rep", "rep-2", DAY)
    assert {k: rep2.get(k) for k in ("deal.won", "activity.call", "meeting.rescheduled")} == {
        "deal.won": 1,
        "activity.call": 1,
        "meeting.rescheduled": 1,
    }
    rep3 = await store.counts("rep", "rep-3", DAY)
    assert {k: rep3.get(k) for k in ("deal.won", "activity.call", "activity.email")} == {
        "deal.won": 1,
        "activity.call": 1,
        "activity.email": 1,
    }
    dead = read_topic(settings, settings.dlq_topic, expected=3)
    reasons = sorted(dict(r.headers)["spm-reason"].decode()[:30] for r in dead)
    sources = sorted(dict(r.headers)["spm-source"].decode() for r in dead)
    assert sources == ["webhook:close", "webhook:hubspot", "webhook:salesforce"], reasons
    assert any(r.startswith("malformed JSON") for r in reasons)

    # The unknown Salesforce owner joins the mapping: a replay maps that letter again.
    add_salesforce_owner(Path(hooks["SPM_CONFIG"]), "0055e000009UnKnAAK", "rep-2")
    replay = run_cli({**env, **hooks}, "dlq", "replay", "--all")
    assert replay.returncode == 1, replay.stderr  # two letters cannot be fixed by a mapping
    assert "1 dead letters replayed" in replay.stdout
    assert replay.stderr.count("still failing") == 2
    await wait_for_processed(store, 17, worker)
    assert (await store.counts("rep", "rep-2", DAY)).get("activity.email") == 1


def fuzzed_bodies(seed: int, count: int) -> list[tuple[str, bytes]]:
    """CRM samples with a field deleted, retyped or the body cut short; some plain noise."""
    rng = random.Random(seed)
    samples = [
        ("hubspot", "hubspot-deal-won.json"),
        ("hubspot", "hubspot-meeting-no-show.json"),
        ("close", "close-opportunity-won.json"),
        ("close", "close-meeting-rescheduled.json"),
        ("pipedrive", "pipedrive-deal-won-v2.json"),
        ("pipedrive", "pipedrive-call-v1.json"),
    ]
    noise: list[Any] = [None, True, -1, 10**20, 1.5e308, "", "x" * 300, [], {}, {"value": []}]
    out: list[tuple[str, bytes]] = []
    for _ in range(count):
        crm_name, name = rng.choice(samples)
        doc = json.loads(crm.sample(name))
        node = doc
        while isinstance(node, dict) and node:
            key = rng.choice(sorted(node))
            if isinstance(node[key], dict) and rng.random() < 0.6:
                node = node[key]
                continue
            if rng.random() < 0.3:
                del node[key]
            else:
                node[key] = rng.choice(noise)
            break
        body = json.dumps(doc).encode()
        if rng.random() < 0.15:
            body = body[: rng.randrange(len(body))]
        if rng.random() < 0.05:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        out.append((crm_name, body))
    return out


async def test_fuzzed_webhooks_never_fail_and_every_reject_is_dead_lettered(
    env: dict[str, str], settings: Settings, store: Store, start_worker: Any, tmp_path: Path
) -> None:
    worker = start_worker(**webhook_env(env, tmp_path))
    accepted = rejected = 0
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
        for crm_name, body in fuzzed_bodies(seed=20261123, count=120):
            path = f"/webhooks/{crm_name}"
            headers = {
                "hubspot": lambda b, p=path: crm.hubspot_headers(worker.web + p, b),
                "close": crm.close_headers,
                "pipedrive": lambda b: crm.pipedrive_headers(),
            }[crm_name](body)
            async with http.post(worker.web + path, data=body, headers=headers) as response:
                assert response.status == 200, (crm_name, body[:200], await response.text())
                answer = await response.json()
            accepted += answer["accepted"]
            rejected += len(answer["rejected"])
            assert all(r["reason"] for r in answer["rejected"])
    assert rejected > 20  # the fuzzing did break payloads
    await wait_for_processed(store, accepted, worker)
    dead = read_topic(settings, settings.dlq_topic, expected=rejected)
    assert len(dead) == rejected
    assert all(dict(r.headers)["spm-reason"] for r in dead)
    assert worker.alive()
