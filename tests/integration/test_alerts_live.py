"""Alerts end to end: Kafka → worker (rules, watches, notifier) → Slack, on the wall clock.

One worker process as production runs it, with second-scale timings: a rep's
reschedule reaches the manager, a no-show escalates to the rep and then (after
a kill -9 of the rules process, then of the worker, and a restart in between)
to the manager, each exactly once; the
snooze button's signed request is verified; the CLI shows silences and the
audit trail. The produce-to-Slack latency is printed (BENCHMARKS.md has the
numbers; timing is never asserted here).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml

from spm_stream.config.settings import Settings
from spm_stream.devtools.slack_server import sign
from spm_stream.store.redis_store import Store
from tests.events import event
from tests.fixtures import SlackFixture, produce, run_cli, wait_for, wait_for_processed
from tests.stack import people

pytestmark = pytest.mark.integration

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def live_config(tag: str) -> dict[str, Any]:
    config = people(
        tag,
        nudge={"enabled": False},
        digest={"enabled": False},
        behind_target={"enabled": False},
        no_show={"rep_after": "4s", "manager_after": "6s", "grace": "2s"},
        notify={
            "group_wait": "0s",
            "quiet_hours": None,
            "working_hours_only": False,
            "channel_interval": "0s",
        },
    )
    config["calendar"] = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "00:00",
        "end": "24:00",
    }
    return config


def cli(env: dict[str, str], *args: str) -> str:
    done = run_cli(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    """Headers as Slack sends them (the local Slack server's signer), with the form type."""
    return {**sign(body, secret, at), "Content-Type": "application/x-www-form-urlencoded"}


async def test_alerts_end_to_end_through_a_worker_and_a_crash(
    env: dict[str, str],
    settings: Settings,
    store: Store,
    slack: SlackFixture,
    start_worker: Any,
    tmp_path: Path,
) -> None:
    tag = env["SPM_TEST_TAG"]
    config = live_config(tag)
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    overrides = {
        "SPM_CONFIG": str(path),
        "SPM_RULES_INTERVAL_S": "0.5",
        "SPM_NOTIFY_INTERVAL_S": "0.2",
        "SPM_SLACK_SIGNING_SECRET": SECRET,
        "SPM_LEADERBOARD_INTERVAL_S": "0",
    }
    env = {**env, **overrides}
    ids = {pid: p.get("slack_id") for pid, p in config["people"].items()}

    def to(person: str) -> list[Any]:
        found = [m for m in slack.state.messages.values() if m.channel == ids[person]]
        return sorted(found, key=lambda m: m.ts)

    worker = start_worker(**overrides)
    # Warm-up: wait until the worker consumes, so latencies below are steady-state.
    produce(
        settings, [(b"rep-2", event(f"{tag}-warm", rep="rep-2", at=datetime.now(UTC).isoformat()))]
    )
    await wait_for_processed(store, 1, worker)

    # A rep moves meetings: each one reaches the manager; the latency is produce -> Slack.
    latencies: list[float] = []
    for i in range(8):
        sent_at = time.time()
        moved = event(
            f"{tag}-mv{i}",
            "meeting.rescheduled",
            rep="rep-2",
            at=datetime.now(UTC).isoformat(),
            meeting_id=f"m-mv{i}",
            scheduled_for=(datetime.now(UTC) + timedelta(days=2)).isoformat(),
            initiated_by="rep",
        )
        produce(settings, [(b"rep-2", moved)])
        await wait_for(lambda n=i: len(to("mgr-1")) == n + 1, 60, f"reschedule alert {i}", worker)
        latencies.append(to("mgr-1")[-1].posted_at - sent_at)
    print(
        f"\nproduce->Slack latency over {len(latencies)} alerts: "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )

    # A no-show: the rep's DM after 4 s of (24/7) working time ...
    opened = datetime.now(UTC)
    produce(
        settings,
        [
            (
                b"rep-1",
                event(
                    f"{tag}-ns",
                    "meeting.no_show",
                    rep="rep-1",
                    at=opened.isoformat(),
                    meeting_id="m-1",
                ),
            ),
            # ... while a meeting booked and held raises nothing.
            (
                b"rep-1",
                event(
                    f"{tag}-bk",
                    "meeting.booked",
                    rep="rep-1",
                    at=opened.isoformat(),
                    meeting_id="m-2",
                    scheduled_for=opened.isoformat(),
                ),
            ),
            (
                b"rep-1",
                event(
                    f"{tag}-hd",
                    "meeting.held",
                    rep="rep-1",
                    at=opened.isoformat(),
                    meeting_id="m-2",
                ),
            ),
        ],
    )
    await wait_for(lambda: len(to("rep-1")) == 1, 60, "the rep's no-show DM", worker)
    dm_delay = to("rep-1")[0].posted_at - opened.timestamp()
    assert dm_delay >= 4.0  # never before the watch is due

    # The rules process dies: the worker carries on and starts a new one at the next tick.
    (rules,) = worker.children("spm-rules")
    os.kill(rules, signal.SIGKILL)
    await wait_for(
        lambda: worker.children("spm-rules") not in ([], [rules]), 30, "a new rules process", worker
    )
    assert worker.alive()
    assert "rules tick failed" in worker.tail(200)

    # The worker dies before the manager's escalation; a new one takes over the watch.
    worker.kill9()
    second = start_worker(**overrides)
    await wait_for(lambda: len(to("mgr-1")) == 9, 120, "the manager's no-show alert", second)
    assert "Ana" in to("mgr-1")[-1].text
    assert to("mgr-1")[-1].posted_at - opened.timestamp() >= 10.0  # 4 s + 6 s of working time

    # Snooze from the nudge's button: Slack's signed request, by the rep.
    payload = {
        "type": "block_actions",
        "user": {"id": ids["rep-1"]},
        "actions": [{"action_id": "snooze", "value": "snooze:rep-1"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    url = f"{second.web}/slack/interactions"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=body, headers=signed(body)) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["ok"] is True
        async with http.post(url, data=body, headers=signed(body, secret="forged")) as response:
            assert response.status == 401
        async with http.post(
            url, data=body, headers=signed(body, at=time.time() - 600)
        ) as response:
            assert response.status == 401  # a replayed, stale request
        other = {**payload, "user": {"id": ids["rep-2"]}}
        other_body = urlencode({"payload": json.dumps(other)}).encode()
        async with http.post(url, data=other_body, headers=signed(other_body)) as response:
            assert response.status == 403  # Ben may not snooze Ana's nudges

    silences = json.loads(cli(env, "silence", "list", "--format", "json"))
    assert sorted((s["rule"], s["subject"]) for s in silences) == [
        ("behind_target*", "rep-1"),
        ("nudge", "rep-1"),
    ]
    log = json.loads(cli(env, "notifications", "log", "--rep", "rep-1", "--format", "json"))
    sent = [e for e in log if e["status"] == "sent"]
    assert [e["rules"] for e in sent] == ["no_show.rep", "no_show.manager"]

    # Nothing more arrives: every alert was delivered exactly once, across the crash.
    await asyncio.sleep(3)
    assert len(to("rep-1")) == 1
    assert len(to("mgr-1")) == 9
