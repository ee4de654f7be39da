"""The read API against a real worker: 401 without the token, 421 for a foreign Host,
signed TV links that work until revoked, no start on a public bind without a token, and
webhooks that check credentials first and bound what one request may carry."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from spm_stream.access import sign_tv_query, tv_key
from spm_stream.config.settings import Settings
from spm_stream.crm.generic import MAX_EVENTS
from spm_stream.devtools.embedded import free_port, redis_server_binary, spawn, stop, wait_for_port
from tests.events import event
from tests.fixtures import produce, read_topic, run_cli, wait_for_processed, wait_until_serving

pytestmark = pytest.mark.integration

READ_PATHS = [
    "/kpis?scope=org",
    "/leaderboard?scope=team&id=t1",
    "/stats",
    "/tv?team=t1",
    "/tv/stream?team=t1",
]


async def _status(http: aiohttp.ClientSession, url: str, **headers: str) -> int:
    async with http.get(url, headers=headers) as response:
        return response.status


async def test_the_read_api_wants_the_token_and_a_known_host(
    env: dict[str, str], start_worker: Any
) -> None:
    worker = start_worker(SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0")
    bearer = worker.auth["Authorization"]
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
        for path in READ_PATHS:
            url = worker.web + path
            assert await _status(http, url) == 401, path
            assert await _status(http, url, Authorization="Bearer wrong") == 401, path
            assert await _status(http, url, Authorization=bearer + "x") == 401, path
        async with http.get(worker.web + "/stats") as response:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "SPM_API_TOKEN" in (await response.json())["error"]
        for path in READ_PATHS[:-1]:  # the stream stays open: its 200 is checked below
            assert await _status(http, worker.web + path, Authorization=bearer) == 200, path
        # A web page whose DNS name was rebound to 127.0.0.1 sends its own Host.
        foreign = await _status(
            http, worker.web + "/stats", Authorization=bearer, Host="evil.example"
        )
        assert foreign == 421
        assert await _status(http, worker.web + "/health") == 200  # orchestrators need no token


async def test_a_signed_tv_link_works_until_its_screen_is_revoked(
    env: dict[str, str], start_worker: Any
) -> None:
    worker = start_worker(SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0")
    made = run_cli(env, "tv", "link", "lobby", "--team", "t1", "--base-url", worker.web)
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    query = link.split("?", 1)[1]
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
        assert await _status(http, link) == 200
        # The signature covers the query: another team with the same signature is refused.
        assert await _status(http, link.replace("team=t1", "team=t2")) == 401
        other_key = sign_tv_query(tv_key("another-token"), "lobby", {"team": "t1"})
        assert await _status(http, f"{worker.web}/tv?{urlencode(other_key)}") == 401
        async with http.get(f"{worker.web}/tv/stream?{query}&interval=0.5") as stream:
            assert stream.status == 200
            assert (await stream.content.readline()).startswith(b"data: ")
            revoked = run_cli(env, "tv", "revoke", "lobby")
            assert revoked.returncode == 0, revoked.stderr
            # The open stream ends within a refresh; new requests are refused at once.
            deadline = time.monotonic() + 10
            while await stream.content.readline():
                assert time.monotonic() < deadline, "the revoked screen's stream stayed open"
        assert await _status(http, link) == 401
        assert run_cli(env, "tv", "allow", "lobby").returncode == 0
        assert await _status(http, link) == 200


async def test_tv_streams_and_queries_are_bounded(env: dict[str, str], start_worker: Any) -> None:
    worker = start_worker(
        SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0", SPM_TV_MAX_STREAMS="2"
    )
    auth = worker.auth
    async with aiohttp.ClientSession(headers=auth) as http:
        await wait_until_serving(http, worker.web, worker)
        seven = "calls,emails,demos,deals_won,meetings_booked,reach_rate,win_rate"
        async with http.get(f"{worker.web}/tv?metrics={seven}") as response:
            assert response.status == 400
            assert "at most 6 per screen, got 7" in (await response.json())["error"]
        assert await _status(http, f"{worker.web}/tv?period=year") == 400
        streams = [await http.get(f"{worker.web}/tv/stream?interval=0.5") for _ in range(2)]
        try:
            assert [s.status for s in streams] == [200, 200]
            assert await _status(http, f"{worker.web}/tv/stream") == 503
        finally:
            for s in streams:
                s.close()
        await asyncio.sleep(1.5)  # the server notices the screens went away
        async with http.get(f"{worker.web}/tv/stream") as again:
            assert again.status == 200


def test_a_public_bind_without_a_token_does_not_start(env: dict[str, str]) -> None:
    bare = {k: v for k, v in env.items() if k != "SPM_API_TOKEN"}
    done = run_cli({**bare, "SPM_WEB_HOST": "0.0.0.0"}, "worker", timeout_s=60)
    assert done.returncode == 2
    assert "SPM_API_TOKEN is not set, but SPM_WEB_HOST=0.0.0.0" in done.stderr
    checked = run_cli({**bare, "SPM_WEB_HOST": "0.0.0.0"}, "config", "check")
    assert checked.returncode == 2


async def _raw_exchange(port: int, head: str, timeout_s: float) -> tuple[str, float]:
    """Send a request head (no body) and read the status line: the answer, and how long."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout_s)
        return line.decode().strip(), time.monotonic() - started
    finally:
        writer.close()


async def test_webhook_credentials_come_before_the_body_and_bodies_get_a_deadline(
    env: dict[str, str], start_worker: Any
) -> None:
    worker = start_worker(
        SPM_LEADERBOARD_INTERVAL_S="0",
        SPM_RULES_INTERVAL_S="0",
        SPM_CLOSE_SIGNATURE_KEY="00ff" * 8,
        SPM_WEBHOOK_TOKEN="hook-token",
        SPM_WEBHOOK_READ_TIMEOUT_S="1",
    )
    port = int(worker.web.rsplit(":", 1)[1])
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
    # No credential, a body announced but never sent: refused at once, nothing held.
    unsigned = "POST /webhooks/close HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 1000000\n"
    status, took = await _raw_exchange(port, unsigned, 5)
    assert status.startswith("HTTP/1.1 401"), status
    assert took < 1.0
    # A 400-digit signature timestamp is no credential, not a server error.
    huge = f"{unsigned}close-sig-timestamp: {'9' * 400}\nclose-sig-hash: ab\n"
    status, _ = await _raw_exchange(port, huge, 5)
    assert status.startswith("HTTP/1.1 401"), status
    # Authenticated, but the body trickles: 408 at the deadline.
    slow = (
        "POST /webhooks/events HTTP/1.1\nHost: 127.0.0.1\nContent-Length: 1000\n"
        "Authorization: Bearer hook-token\n"
    )
    status, took = await _raw_exchange(port, slow, 10)
    assert status.startswith("HTTP/1.1 408"), status
    assert 0.9 < took < 5


async def test_canonical_events_name_known_people_and_come_in_bounded_requests(
    env: dict[str, str], settings: Settings, start_worker: Any
) -> None:
    worker = start_worker(
        SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0", SPM_WEBHOOK_TOKEN="hook-token"
    )
    url = worker.web + "/webhooks/events"
    headers = {"Authorization": "Bearer hook-token", "Content-Type": "application/json"}
    known = [json.loads(event(f"k{i}", rep="rep-1", team="t1")) for i in range(3)]
    strangers = [json.loads(event("s1", rep="rep-x")), json.loads(event("s2", team="t9"))]
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
        async with http.post(url, data=json.dumps(known + strangers), headers=headers) as answer:
            assert answer.status == 200
            body = await answer.json()
        assert body["accepted"] == 3
        assert [r["field"] for r in body["rejected"]] == ["rep_id", "team_id"]
        # Over the limit: refused whole, nothing produced (the CRM splits and retries).
        many = [json.loads(event(f"m{i}", rep="rep-1")) for i in range(MAX_EVENTS + 1)]
        async with http.post(url, data=json.dumps(many), headers=headers) as answer:
            assert answer.status == 400
            assert f"at most {MAX_EVENTS} per request" in (await answer.json())["error"]
    dead = read_topic(settings, settings.dlq_topic, 2)
    assert sorted(dict(r.headers)["spm-field"] for r in dead) == [b"rep_id", b"team_id"]
    produced = read_topic(settings, settings.topic, 4, timeout_s=5)
    assert len(produced) == 3


async def test_odd_queries_get_a_4xx_not_a_500(env: dict[str, str], start_worker: Any) -> None:
    worker = start_worker(SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0")
    async with aiohttp.ClientSession(headers=worker.auth) as http:
        await wait_until_serving(http, worker.web, worker)
        for path in (
            "/kpis?scope=org&at=9999-12-31",
            "/kpis?scope=org&at=0001-01-01",
            "/leaderboard?scope=org&at=9999-12-31",
            "/leaderboard?scope=org&top=1e400",
        ):
            assert await _status(http, worker.web + path) == 400, path
        # A locale is never a path: anything outside en/de/zh is shown in English.
        for locale in ("x" * 300, "../../../../etc", "de"):
            async with http.get(f"{worker.web}/tv/stream?team=t1&locale={locale}") as stream:
                assert stream.status == 200
                first = json.loads((await stream.content.readline()).removeprefix(b"data: "))
                assert first["empty"] == (
                    "Noch keine Aktivität." if locale == "de" else "No activity yet."
                )


async def test_health_and_stats_tell_when_redis_is_away_or_unsafe(
    env: dict[str, str], start_worker: Any, store: Any, tmp_path: Path
) -> None:
    # A Redis of this worker's own, stopped once the worker is up (a worker refuses to
    # start without one).
    port = free_port()
    own = spawn(
        [redis_server_binary(), "--port", str(port), "--save", "", "--appendonly", "no"],
        tmp_path / "redis.log",
    )
    wait_for_port(port, "redis")
    away = start_worker(
        SPM_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        SPM_LEADERBOARD_INTERVAL_S="0",
        SPM_RULES_INTERVAL_S="0",
        SPM_INGEST_PROCESS="false",
    )
    async with aiohttp.ClientSession(headers=away.auth) as http:
        await wait_until_serving(http, away.web, away)
        stop(own)
        assert await _status(http, away.web + "/health") == 503
        assert await _status(http, away.web + "/stats") == 503  # not a 500
    away.stop()

    worker = start_worker(SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0")
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
        before = (await store.redis.config_get("maxmemory-policy"))["maxmemory-policy"]
        await store.redis.config_set("maxmemory-policy", "allkeys-lru")
        try:
            async with http.get(worker.web + "/health") as response:
                assert response.status == 503
                problems = (await response.json())["redis_problems"]
                assert problems == [
                    "maxmemory-policy allkeys-lru: Redis may evict state; set noeviction"
                ]
        finally:
            await store.redis.config_set("maxmemory-policy", before)
        assert await _status(http, worker.web + "/health") == 200


async def test_the_tv_page_speaks_the_screens_language(
    env: dict[str, str], settings: Settings, store: Any, start_worker: Any
) -> None:
    now = datetime.now(UTC).isoformat()
    produce(settings, [(b"rep-1", event(f"tv-{i}", rep="rep-1", at=now)) for i in range(1234)])
    worker = start_worker(SPM_LEADERBOARD_INTERVAL_S="0", SPM_RULES_INTERVAL_S="0")
    await wait_for_processed(store, 1234, worker)
    async with aiohttp.ClientSession(headers=worker.auth) as http:
        query = "team=t1&metrics=calls&period=rolling_7&locale=de"
        async with http.get(f"{worker.web}/tv?{query}") as page:
            html = await page.text()
        assert '<html lang="de">' in html
        assert "verbinde…" in html
        async with http.get(f"{worker.web}/tv/stream?{query}") as stream:
            first = json.loads((await stream.content.readline()).removeprefix(b"data: "))
    (board,) = first["boards"]
    assert board["title"] == "Anrufe · Letzte 7 Tage"
    assert board["rows"][0]["shown"] == "1.234"
