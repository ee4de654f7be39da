"""The Slack app end to end: a real worker on real Kafka and Redis, and the local Slack server
sending what Slack sends (signed slash commands, Events API callbacks, button clicks)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml

from notifications.slack import make_client
from notifications.slackapp import SlackApp
from notifications.state import NotifyState
from spm_stream.config.directory import Directory
from spm_stream.config.settings import Settings
from spm_stream.config.targets import ReloadingTargets
from spm_stream.devtools.slack_server import send_click, send_command, send_event, sign
from spm_stream.rules.noshow import Watch
from spm_stream.store.redis_store import Store
from tests.events import event
from tests.fixtures import (
    SlackFixture,
    produce,
    run_cli,
    wait_for,
    wait_for_processed,
    wait_until_serving,
)
from tests.stack import people as stack_people

pytestmark = pytest.mark.integration

SECRET = "app-signing-secret"


def people(tag: str) -> dict[str, Any]:
    """The alert tests' team (tests.stack), with Ben an SDR, scorecards and tight privacy."""
    config = stack_people(tag)
    del config["people"]["rep-3"]
    config["people"]["rep-2"]["role"] = "sdr"
    config["scorecards"] = {"sdr": {"weights": {"calls": 1}}, "default": {"weights": {"calls": 1}}}
    config["privacy"] = {"top": 1, "around": 1}
    return config


@pytest.fixture
def app_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    tag = env["SPM_TEST_TAG"]
    config = tmp_path / "app-people.yaml"
    config.write_text(yaml.safe_dump(people(tag)), encoding="utf-8")
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"defaults": {"calls": {"week": 40}}}), encoding="utf-8")
    return {
        **env,
        "SPM_CONFIG": str(config),
        "SPM_TARGETS": str(targets),
        "SPM_SLACK_SIGNING_SECRET": SECRET,
        "SPM_HOME_REFRESH_S": "1",
    }


def _texts(answer: dict[str, Any]) -> str:
    parts = [str(answer.get("text", ""))]
    for block in answer.get("blocks") or []:
        parts.append(str((block.get("text") or {}).get("text", "")))
        parts += [str(e.get("text", "")) for e in block.get("elements") or []]
    return "\n".join(parts)


async def test_spm_answers_each_person_privately_and_refuses_forged_stale_and_replayed(
    app_env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture, start_worker
) -> None:
    tag = app_env["SPM_TEST_TAG"].upper()
    ana, ben, mia, stranger = f"U{tag}A", f"U{tag}B", f"U{tag}M", f"U{tag}X"
    now = datetime.now(UTC).isoformat()
    calls = [event(f"{tag}-a{i}", rep="rep-1", at=now, team="t1") for i in range(3)]
    calls += [event(f"{tag}-b{i}", rep="rep-2", at=now, team="t1") for i in range(5)]
    calls.append(event(f"{tag}-ns", "meeting.no_show", rep="rep-1", at=now, meeting_id="m-7"))
    worker = start_worker(**app_env)
    produce(settings, [(b"k", raw) for raw in calls])
    await wait_for_processed(store, len(calls), worker)
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
    slack.state.app_url, slack.state.signing_secret = worker.web, SECRET
    base = slack.page.rstrip("/")

    status, me = await send_command(slack.state, base, ana, "me")
    assert status == 200, me
    assert me["response_type"] == "ephemeral"
    text = _texts(me)
    assert "Deine Zahlen, Ana" in text  # Ana's locale
    assert "Platz 2 von 2" in text  # Ben has more calls
    assert "m-7" in text  # her open no-show
    status, board = await send_command(slack.state, base, ana, "board calls week")
    text = _texts(board)
    # privacy.top is 1: the top rep, then only Ana's own row (the reply is hers alone).
    assert "Ben" in text
    assert "Ana" in text
    status, fair = await send_command(slack.state, base, ben, "board calls week attainment")
    assert "% of target" in _texts(fair)
    assert "12.5%" in _texts(fair)  # Ben: 5 of 40
    # The same fair board from the read API (the admin's view: every rank).
    query = "scope=team&id=t1&metric=calls&period=week&rank_by=attainment"
    async with (
        aiohttp.ClientSession(headers=worker.auth) as http,
        http.get(f"{worker.web}/leaderboard?{query}") as answered,
    ):
        api = await answered.json()
    assert api["rank_by"] == "attainment"
    assert [(r["rep_id"], r["value"]) for r in api["rows"]] == [("rep-2", 12.5), ("rep-1", 7.5)]
    async with (
        aiohttp.ClientSession(headers=worker.auth) as http,
        http.get(f"{worker.web}/leaderboard?scope=team&id=t1&rank_by=fairest") as answered,
    ):
        assert answered.status == 400
        assert "rank_by: expected one of" in (await answered.json())["error"]
    # And from the CLI, and on a TV screen.
    done = run_cli(
        app_env, "leaderboard", "--scope", "team", "--id", "t1", "--period", "week",
        "--rank-by", "attainment", "--format", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["value"] for r in json.loads(done.stdout)["rows"]] == [12.5, 7.5]
    from agents.app import new_faust_app
    from agents.runtime import Runtime, declare_topics
    from agents.tv import tv_payload
    from spm_stream.config.scopes import Routing

    directory = Directory.model_validate(people(app_env["SPM_TEST_TAG"]))
    targets = ReloadingTargets(Path(app_env["SPM_TARGETS"]))
    topics = declare_topics(new_faust_app(settings), settings)
    rt = Runtime(settings, directory, Routing.from_directory(directory), targets, store, topics)
    screen = await tv_payload(
        rt, {"team": "t1", "metrics": "calls", "rank_by": "attainment"}, datetime.now(UTC)
    )
    (tv_board,) = screen["boards"]
    assert "(% of target)" in tv_board["title"]
    assert [r["shown"] for r in tv_board["rows"]] == ["12.5%"]  # privacy.top is 1
    status, team = await send_command(slack.state, base, mia, "team")
    assert "Your team, Mia" in _texts(team)
    status, not_manager = await send_command(slack.state, base, ben, "team")
    assert "Nobody reports to you" in _texts(not_manager)
    status, helped = await send_command(slack.state, base, ben, "help")
    assert "/spm board" in _texts(helped)
    status, unknown = await send_command(slack.state, base, stranger, "me")
    assert status == 200
    assert f"`{stranger}`" in _texts(unknown)
    status, odd = await send_command(slack.state, base, ben, "dance")
    assert "/spm help" in _texts(odd)

    body = urlencode({"user_id": ana, "text": "me", "command": "/spm"}).encode()
    url = worker.web + "/slack/commands"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as http:
        signed = sign(body, SECRET)
        async with http.post(url, data=body, headers={**form, **signed}) as answered:
            assert answered.status == 200
        async with http.post(url, data=body, headers={**form, **signed}) as answered:
            assert answered.status == 401  # the same signed request again: a replay
            assert "replayed" in (await answered.json())["error"]
        forged = sign(body, "not-the-secret")
        async with http.post(url, data=body, headers={**form, **forged}) as answered:
            assert answered.status == 401
        stale = sign(body, SECRET, at=time.time() - 600)
        async with http.post(url, data=body, headers={**form, **stale}) as answered:
            assert answered.status == 401
            assert "stale" in (await answered.json())["error"]


async def test_app_home_is_published_when_opened_and_an_events_retry_is_handled_once(
    app_env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture, start_worker
) -> None:
    tag = app_env["SPM_TEST_TAG"].upper()
    ana = f"U{tag}A"
    now = datetime.now(UTC).isoformat()
    raw = event(f"{tag}-ns", "meeting.no_show", rep="rep-1", at=now, meeting_id="m-9")
    worker = start_worker(**app_env)
    produce(settings, [(b"k", raw)])
    await wait_for_processed(store, 1, worker)
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
    slack.state.app_url, slack.state.signing_secret = worker.web, SECRET

    check = {"type": "url_verification", "challenge": "c-42"}
    body = json.dumps(check).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(worker.web + "/slack/events", data=body, headers=sign(body, SECRET)) as answered,
    ):
        assert (await answered.json()) == {"challenge": "c-42"}

    opened = {"type": "app_home_opened", "user": ana, "tab": "home"}
    status, answer = await send_event(slack.state, opened, event_id=f"Ev{tag}")
    assert (status, answer) == (200, {"ok": True})
    await wait_for(lambda: ana in slack.state.views, 20, "Ana's Home view")
    view = slack.state.views[ana]
    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {b["value"] for b in buttons} == {"rescheduled:m-9", "snooze_no_show:m-9"}
    # Slack retries a delivery it thinks failed: the same event id, re-signed.
    status, again = await send_event(slack.state, opened, event_id=f"Ev{tag}", retry_num=1)
    assert (status, again) == (200, {"ok": True, "duplicate": True})
    await asyncio.sleep(2.5)  # two refresh rounds: nothing changed, nothing published
    publishes = [c for c in slack.state.calls if c["method"] == "views.publish"]
    assert sum(1 for c in publishes if c["params"].get("user_id") == ana) == 1

    # The Rescheduled button on the Home tab: the watch closes, the audit says who did it.
    status, clicked = await send_click(
        slack.state,
        slack.page.rstrip("/"),
        ana,
        {"action_id": "rescheduled", "value": "rescheduled:m-9"},
    )
    assert (status, clicked) == (200, {"ok": True, "rescheduled": "m-9"})
    watches = [Watch.loads(raw) for _, raw in await store.open_watches()]
    assert all(w.meeting_id != "m-9" for w in watches)
    audit = await NotifyState.on(store.redis, settings.redis_prefix).audit.log()
    assert any(e.status == "rescheduled" and ana in e.reason for e in audit)
    # A Home click has no response_url: the confirmation comes as a DM from the app.
    await wait_for(
        lambda: any(
            m.channel == ana and "neu vereinbart" in m.text for m in slack.state.messages.values()
        ),
        20,
        "the confirmation DM",
    )


async def test_a_home_view_is_republished_when_numbers_change_but_at_most_once_a_minute(
    settings: Settings, store: Store, slack: SlackFixture, env: dict[str, str], tmp_path: Path
) -> None:
    tag = env["SPM_TEST_TAG"].upper()
    directory = Directory.model_validate(people(env["SPM_TEST_TAG"]))
    targets = tmp_path / "t.yaml"
    targets.write_text("defaults: {calls: {week: 40}}\n", encoding="utf-8")
    app = SlackApp(
        store=store,
        state=NotifyState.on(store.redis, settings.redis_prefix),
        directory=directory,
        targets=ReloadingTargets(targets),
        client=make_client(settings),
        signing_secret=SECRET,
    )
    ben = f"U{tag}B"
    t0 = datetime.now(UTC)
    assert await app.open_home(ben, t0) == "published"
    assert await app.refresh_homes(t0 + timedelta(seconds=5)) == {"unchanged": 1}
    await store.apply(await _calls_planned(store, directory, "rep-2", 3, t0))
    assert await app.refresh_homes(t0 + timedelta(seconds=30)) == {"wait": 1}  # changed, too soon
    assert await app.refresh_homes(t0 + timedelta(seconds=61)) == {"published": 1}
    assert "*3*" in json.dumps(slack.state.views[ben]["blocks"])  # today's calls


async def _calls_planned(store: Store, directory: Directory, rep: str, n: int, at: datetime) -> Any:
    from spm_stream.config.scopes import Routing
    from spm_stream.counting.ingest import Record, ingest

    lines = [
        event(f"{rep}-{at.timestamp()}-{i}", rep=rep, at=at.isoformat(), team="t1")
        for i in range(n)
    ]
    records = [Record("t", 0, i, b"k", raw) for i, raw in enumerate(lines)]
    return ingest(records, keys=store.keys, routing=Routing.from_directory(directory)).batches


async def test_buttons_in_a_dm_are_confirmed_through_response_url_and_only_for_their_rep(
    app_env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture, start_worker
) -> None:
    tag = app_env["SPM_TEST_TAG"].upper()
    ana, ben = f"U{tag}A", f"U{tag}B"
    now = datetime.now(UTC)
    raw = event(f"{tag}-ns", "meeting.no_show", rep="rep-1", at=now.isoformat(), meeting_id="m-3")
    worker = start_worker(**app_env)
    produce(settings, [(b"k", raw)])
    await wait_for_processed(store, 1, worker)
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
    slack.state.app_url, slack.state.signing_secret = worker.web, SECRET
    base = slack.page.rstrip("/")
    dm = (ana, "1.000001")  # the no-show DM the buttons are on

    snooze = {"action_id": "snooze_no_show", "value": "snooze_no_show:m-3"}
    status, refused = await send_click(slack.state, base, ben, snooze, message=(ben, "1.2"))
    assert status == 403, refused  # Ben may not snooze Ana's meeting
    (before,) = [Watch.loads(r) for _, r in await store.open_watches()]
    status, done = await send_click(slack.state, base, ana, snooze, message=dm)
    assert (status, done) == (200, {"ok": True, "snoozed": "m-3"})
    (after,) = [Watch.loads(r) for _, r in await store.open_watches()]
    assert before.due is not None
    assert after.due is not None
    assert after.due >= before.due + timedelta(days=1)
    await wait_for(
        lambda: any(e["via"] == "response_url" and e["user"] == ana for e in slack.state.ephemeral),
        20,
        "the confirmation through response_url",
    )
    (confirmed,) = [e for e in slack.state.ephemeral if e["via"] == "response_url"][-1:]
    assert confirmed["response_type"] == "ephemeral"
    assert confirmed["replace_original"] is False
    assert "m-3" in confirmed["text"]
    assert "pausiert bis" in confirmed["text"]  # in Ana's German, on her clock


async def test_socket_mode_takes_the_same_requests_without_a_public_url(
    app_env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture, start_worker
) -> None:
    tag = app_env["SPM_TEST_TAG"].upper()
    ana = f"U{tag}A"
    env = {**app_env, "SPM_SLACK_APP_TOKEN": f"xapp-{tag}"}
    del env["SPM_SLACK_SIGNING_SECRET"]  # Socket Mode needs no signing secret
    worker = start_worker(**env)
    async with aiohttp.ClientSession() as http:
        await wait_until_serving(http, worker.web, worker)
    await wait_for(lambda: bool(slack.state.sockets), 20, "the worker's Socket Mode connection")
    async with aiohttp.ClientSession() as http:
        # Through the local server's own loop, which holds the socket.
        async with http.post(slack.page + "_command", json={"user": ana, "text": "me"}) as r:
            answer = (await r.json())["answer"]
        assert answer["response_type"] == "ephemeral"
        assert "Deine Zahlen, Ana" in _texts(answer)
        async with http.post(slack.page + "_event", json={"user": ana}) as r:
            assert (await r.json())["status"] == 200
    await wait_for(lambda: ana in slack.state.views, 20, "Ana's Home view over Socket Mode")
    worker.stop()
    await wait_for(lambda: not slack.state.sockets, 20, "the socket closed with the worker")


async def test_a_slow_answer_is_acknowledged_at_once_and_follows_through_response_url(
    settings: Settings, store: Store, slack: SlackFixture, env: dict[str, str], tmp_path: Path
) -> None:
    """Slack waits 3 s for a command's answer: a slower one is acknowledged with "one
    moment" and posted to the command's response_url when ready."""
    tag = env["SPM_TEST_TAG"].upper()

    class Slow(SlackApp):
        async def answer(self, slack_user: str, cmd: Any, now: datetime) -> Any:
            await asyncio.sleep(3.5)  # a slow store, say
            return await super().answer(slack_user, cmd, now)

    app = Slow(
        store=store,
        state=NotifyState.on(store.redis, settings.redis_prefix),
        directory=Directory.model_validate(people(env["SPM_TEST_TAG"])),
        targets=ReloadingTargets(None),
        client=make_client(settings),
        signing_secret=SECRET,
        response_hosts=(slack.page,),
    )
    rid = f"R{tag}"
    slack.state.responders[rid] = f"U{tag}B"
    form = {"user_id": f"U{tag}B", "text": "help", "response_url": f"{slack.page}_respond/{rid}"}
    started = time.monotonic()
    ack = await app.on_command(form, datetime.now(UTC))
    assert time.monotonic() - started < 3.0  # within Slack's three seconds
    assert ack["response_type"] == "ephemeral"
    assert "blocks" not in ack
    await wait_for(
        lambda: any(e.get("via") == "response_url" and e["user"] == f"U{tag}B"
                    and "/spm board" in e.get("text", "") for e in slack.state.ephemeral),
        20,
        "the reply through response_url",
    )  # fmt: skip
