"""End to end: CRM events → Kafka → Faust worker → Redis → Slack, with bad input and duplicates."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from spm_stream.config.settings import Settings
from spm_stream.store.redis_store import Store
from tests.events import BAD_RECORDS, event
from tests.fixtures import (
    SlackFixture,
    produce,
    read_topic,
    run_cli,
    wait_for_processed,
)

pytestmark = pytest.mark.integration

REPS = {"rep-1": "t1", "rep-2": "t1", "rep-3": "t2"}
TYPES = ["activity.call", "activity.call", "activity.email", "activity.social"]


async def test_events_are_counted_once_rejects_go_to_the_dlq_and_slack_shows_the_board(
    env: dict[str, str],
    settings: Settings,
    store: Store,
    start_worker,
    slack: SlackFixture,
    tmp_path: Path,
) -> None:
    good = []
    expected: Counter[tuple[str, str]] = Counter()
    for i in range(300):
        rep = list(REPS)[i % 3]
        etype = TYPES[i % len(TYPES)]
        good.append(event(f"e-{i}", etype, rep=rep))
        expected[(rep, etype)] += 1
    duplicates = good[:10]  # a CRM retrying its webhooks
    lines = good + duplicates + [raw for raw, _ in BAD_RECORDS]
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(lines) + b"\n")

    replayed = run_cli(env, "replay", str(file))
    assert replayed.returncode == 0, replayed.stderr
    assert f"produced {len(lines)} events" in replayed.stdout

    worker = start_worker()
    stats = await wait_for_processed(store, len(lines), worker)
    assert (stats.counted, stats.duplicates, stats.rejected) == (300, 10, len(BAD_RECORDS))

    for rep in REPS:
        counts = await store.counts("rep", rep, "day:2026-11-02")
        assert counts == {etype: n for (r, etype), n in expected.items() if r == rep}
    team_one = await store.counts("team", "t1", "day:2026-11-02")
    assert (
        team_one["activity.call"]
        == expected[("rep-1", "activity.call")] + expected[("rep-2", "activity.call")]
    )
    org = await store.counts("org", "all", "day:2026-11-02")
    assert sum(org.values()) == 300

    # Every reject is in the DLQ with the original bytes and the reason.
    dead = read_topic(settings, settings.dlq_topic, len(BAD_RECORDS))
    assert len(dead) == len(BAD_RECORDS)
    by_value = {record.value: dict(record.headers) for record in dead}
    for raw, reason in BAD_RECORDS:
        assert raw in by_value, raw
        assert by_value[raw]["spm-reason"].decode().startswith(reason)
        assert by_value[raw]["spm-source"].decode().startswith(settings.topic + ":")

    # Good events keep flowing after the rejects, and the worker is still alive.
    produce(settings, [(b"rep-3", event(f"late-{i}", rep="rep-3")) for i in range(20)])
    await wait_for_processed(store, len(lines) + 20, worker)
    assert worker.alive()

    # The worker reports its health and what it handled.
    web = f"http://127.0.0.1:{env['SPM_WEB_PORT']}"
    bearer = {"Authorization": f"Bearer {env['SPM_API_TOKEN']}"}
    async with aiohttp.ClientSession(headers=bearer) as http:
        async with http.get(web + "/health") as response:
            assert response.status == 200
            assert await response.json() == {
                "status": "ok",
                "redis": True,
                "redis_problems": [],
                "slack_error": None,
            }
        async with http.get(web + "/stats") as response:
            body = await response.json()
        # The org's week board of calls, and rep-2's place on it, over HTTP.
        query = "scope=org&metric=calls&period=week&at=2026-11-02&rep=rep-2"
        async with http.get(f"{web}/leaderboard?{query}") as response:
            assert response.status == 200
            board = await response.json()
        async with http.get(f"{web}/leaderboard?scope=org&metric=cals") as response:
            assert response.status == 400
            assert "unknown metric 'cals'" in (await response.json())["error"]
    assert body["worker"]["rejected"] == len(BAD_RECORDS)
    org_calls = {rep: n for (rep, etype), n in expected.items() if etype == "activity.call"}
    org_calls["rep-3"] = org_calls.get("rep-3", 0) + 20  # the late events are calls too
    ranked = sorted(org_calls.items(), key=lambda item: (-item[1], item[0]))
    assert [(r["rep_id"], r["value"]) for r in board["rows"]] == [(r, float(n)) for r, n in ranked]
    assert "rep-2" in [r["rep_id"] for r in board["rep"]["around"]]
    assert body["store"]["processed"] == len(lines) + 20

    # The leaderboard CLI reads Redis.
    board = run_cli(
        env,
        "leaderboard",
        "--scope",
        "team",
        "--id",
        "t1",
        "--metric",
        "calls",
        "--at",
        "2026-11-02",
        "--format",
        "json",
    )
    assert board.returncode == 0, board.stderr
    entries = json.loads(board.stdout)["rows"]
    calls = {rep: n for (rep, etype), n in expected.items() if etype == "activity.call"}
    assert [(e["rep_id"], e["value"]) for e in entries] == sorted(
        ((rep, float(calls[rep])) for rep in ("rep-1", "rep-2")), key=lambda x: (-x[1], x[0])
    )


async def test_worker_posts_and_then_edits_the_live_board(
    env: dict[str, str],
    settings: Settings,
    store: Store,
    start_worker,
    slack: SlackFixture,
) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    produce(settings, [(b"rep-1", event(f"a-{i}", rep="rep-1", at=today)) for i in range(3)])
    worker = start_worker()
    await wait_for_processed(store, 3, worker)
    channel = slack.state.channel_id(f"#t1-{env['SPM_TEST_TAG']}")

    def board_messages() -> list:
        return [m for m in list(slack.state.messages.values()) if m.channel == channel]

    for _ in range(100):
        if board_messages():
            break
        await asyncio.sleep(0.2)
    (message,) = board_messages()
    assert "*3*" in message.blocks[2]["text"]["text"]

    produce(settings, [(b"rep-2", event(f"b-{i}", rep="rep-2", at=today)) for i in range(5)])
    await wait_for_processed(store, 8, worker)
    for _ in range(100):
        if message.edits and "Ben" in message.blocks[2]["text"]["text"]:
            break
        await asyncio.sleep(0.2)
    assert len(board_messages()) == 1, "the board must be edited in place, not re-posted"
    text = message.blocks[2]["text"]["text"]
    assert text.index("Ben") < text.index("Ana"), text
