"""Slack delivery through the real slack-sdk client against the local Slack server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from notifications.render import Message
from notifications.slack import make_client, post_or_update
from spm_stream.config.scopes import Routing
from spm_stream.config.settings import Settings
from spm_stream.contract.events import parse_event
from spm_stream.counting.planning import plan_event
from spm_stream.store.redis_store import Store
from tests.events import event
from tests.fixtures import SlackFixture, run_cli

pytestmark = pytest.mark.integration


def _post_leaderboard(env: dict[str, str], team: str) -> str:
    done = run_cli(env, "post-leaderboard", "--team", team)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def _calls(store: Store, rep: str, n: int, start: int) -> None:
    now = datetime.now(UTC).isoformat()
    plans = [
        plan_event(
            parse_event(event(f"s-{start + i}", rep=rep, at=now)),
            offset=start + i,
            partition=0,
            keys=store.keys,
            routing=Routing(ZoneInfo("UTC"), {"rep-1": "t1", "rep-2": "t1"}),
        )
        for i in range(n)
    ]
    await store.apply({0: plans})


async def test_post_leaderboard_posts_once_then_edits_in_place(
    env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture
) -> None:
    channel = slack.state.channel_id(f"#t1-{env['SPM_TEST_TAG']}")
    await _calls(store, "rep-1", 4, start=0)
    assert _post_leaderboard(env, "t1") == "posted"
    assert _post_leaderboard(env, "t1") == "unchanged"
    await _calls(store, "rep-2", 6, start=4)
    assert _post_leaderboard(env, "t1") == "updated"

    (message,) = [m for m in slack.state.messages.values() if m.channel == channel]
    assert message.edits == 1
    text = message.blocks[2]["text"]["text"]
    assert text.index("Ben") < text.index("Ana")
    methods = [
        c["method"]
        for c in slack.state.calls
        if c["params"].get("channel") in (channel, f"#t1-{env['SPM_TEST_TAG']}")
    ]
    assert methods == ["chat.postMessage", "chat.update"]


def test_unknown_team_is_a_clear_cli_error(env: dict[str, str]) -> None:
    done = run_cli(env, "post-leaderboard", "--team", "zz")
    assert done.returncode == 2
    assert "unknown team 'zz'" in done.stderr


async def test_rate_limit_retry_after_is_honoured(settings: Settings, slack: SlackFixture) -> None:
    slack.state.faults.clear()
    from spm_stream.devtools.slack_server import Fault

    slack.state.faults.append(Fault("chat.postMessage", 429, count=1, retry_after=1))
    client = make_client(settings)
    started = time.monotonic()
    posted = await post_or_update(client, "#rate-limited", Message("hello", []))
    assert time.monotonic() - started >= 1.0
    assert posted.created
    assert slack.state.messages[(posted.channel, posted.ts)].text == "hello"


async def test_a_deleted_message_is_posted_again(settings: Settings, slack: SlackFixture) -> None:
    client = make_client(settings)
    first = await post_or_update(client, "#deleted", Message("one", []))
    del slack.state.messages[(first.channel, first.ts)]
    second = await post_or_update(client, first.channel, Message("two", []), ts=first.ts)
    assert second.created
    assert second.ts != first.ts


async def test_configured_boards_live_and_on_a_schedule(
    env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture
) -> None:
    from agents.app import new_faust_app
    from agents.boards import refresh_boards
    from agents.runtime import Runtime, declare_topics
    from spm_stream.config.directory import Directory
    from spm_stream.config.targets import ReloadingTargets

    tag = env["SPM_TEST_TAG"]
    directory = Directory.model_validate(
        {
            "people": {"rep-1": {"name": "Ana"}, "rep-2": {"name": "Ben"}},
            "boards": [
                {"channel": f"#live-{tag}", "metric": "calls", "period": "week"},
                {"channel": f"#friday-{tag}", "metric": "calls", "period": "week",
                 "live": False, "schedule": "0 17 * * 5", "chart": True},
            ],
        }
    )  # fmt: skip
    topics = declare_topics(new_faust_app(settings), settings)  # declared, never connected
    routing = Routing.from_directory(directory)
    rt = Runtime(settings, directory, routing, ReloadingTargets(None), store, topics)
    client = make_client(settings)
    live, friday = (slack.state.channel_id(f"#{n}-{tag}") for n in ("live", "friday"))

    def posts(channel: str) -> list:
        return [m for m in slack.state.messages.values() if m.channel == channel]

    await _calls(store, "rep-1", 3, start=0)
    thursday = datetime(2026, 11, 26, 16, tzinfo=UTC)
    await refresh_boards(rt, client, directory.boards, thursday)
    (board,) = posts(live)
    assert "Ana" in board.blocks[2]["text"]["text"]
    await refresh_boards(rt, client, directory.boards, thursday)  # unchanged: no Slack call
    await _calls(store, "rep-2", 5, start=3)
    await refresh_boards(rt, client, directory.boards, thursday)
    (board,) = posts(live)
    assert board.edits == 1
    text = board.blocks[2]["text"]["text"]
    assert text.index("Ben") < text.index("Ana")
    # The Friday 17:00 post: not before, once at the time, not again after.
    assert posts(friday) == []
    await refresh_boards(rt, client, directory.boards, datetime(2026, 11, 27, 16, 59, tzinfo=UTC))
    assert posts(friday) == []
    await refresh_boards(
        rt, client, directory.boards, datetime(2026, 11, 27, 17, 0, 30, tzinfo=UTC)
    )
    await refresh_boards(rt, client, directory.boards, datetime(2026, 11, 27, 17, 5, tzinfo=UTC))
    board_post, chart_post = sorted(posts(friday), key=lambda m: m.ts)
    assert "Ben" in board_post.blocks[2]["text"]["text"]
    (shared,) = chart_post.files
    url = slack.page + f"_files/{shared['id']}"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.content_type == "image/png"
        png = await response.read()
    assert png.startswith(b"\x89PNG")
    assert shared["name"] == "leaderboard.png"


async def test_forty_live_boards_share_the_workspaces_chat_update_budget_without_a_429(
    env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture
) -> None:
    """Tier 3 allows about 50 chat.update calls a minute per workspace (the local server
    answers the 51st with a 429): 40 live boards changing every tick stay under it."""
    from pydantic import SecretStr

    from agents.app import new_faust_app
    from agents.boards import refresh_boards
    from agents.runtime import Runtime, declare_topics
    from notifications.ratelimit import UpdateBudget
    from spm_stream.config.directory import Directory
    from spm_stream.config.targets import ReloadingTargets

    tag = env["SPM_TEST_TAG"]
    boards = [{"channel": f"#b{i}-{tag}", "metric": "calls"} for i in range(40)]
    directory = Directory.model_validate(
        {"people": {"rep-1": {"name": "Ana"}, "rep-2": {"name": "Ben"}}, "boards": boards}
    )
    topics = declare_topics(new_faust_app(settings), settings)
    routing = Routing.from_directory(directory)
    rt = Runtime(settings, directory, routing, ReloadingTargets(None), store, topics)
    token = f"xoxb-budget-{tag}"  # a workspace of its own: its own Tier 3 window
    client = make_client(settings.model_copy(update={"slack_token": SecretStr(token)}))
    budget = UpdateBudget()
    ticks = []
    for tick in range(4):
        rep = "rep-1" if tick % 2 else "rep-2"
        await _calls(store, rep, 2 + tick, start=100 * tick)  # every board changes
        before = len(slack.state.calls)
        await refresh_boards(rt, client, directory.boards, datetime.now(UTC), budget)
        ticks.append([c["method"] for c in slack.state.calls[before:]])
    assert ticks[0].count("chat.postMessage") == 40
    updates = sum(t.count("chat.update") for t in ticks)
    assert 40 <= updates <= 50  # the budget, not the 120 edits the boards wanted
    assert len(slack.state.updates[token]) == updates  # each answered: none was a 429
    # What waited is not lost: the boards that went first last time wait their turn now.
    assert ticks[2].count("chat.update") >= 1


async def test_the_local_server_answers_chat_update_past_tier_3_with_a_429(
    env: dict[str, str], slack: SlackFixture
) -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token=f"xoxb-tier3-{env['SPM_TEST_TAG']}", base_url=slack.base_url)
    posted = await client.chat_postMessage(channel="#tier3", text="0")
    for n in range(50):
        await client.chat_update(channel=posted["channel"], ts=posted["ts"], text=str(n))
    with pytest.raises(SlackApiError) as refused:
        await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="51st")
    assert refused.value.response.status_code == 429
    assert int(refused.value.response.headers["Retry-After"]) >= 1


async def test_a_channel_board_shows_the_top_and_who_moved_up_never_the_rest(
    env: dict[str, str], settings: Settings, store: Store, slack: SlackFixture
) -> None:
    from agents.app import new_faust_app
    from agents.boards import refresh_boards
    from agents.runtime import Runtime, declare_topics
    from spm_stream.config.directory import Directory
    from spm_stream.config.targets import ReloadingTargets

    tag = env["SPM_TEST_TAG"]
    directory = Directory.model_validate(
        {
            "people": {n: {"name": name} for n, name in [("rep-1", "Ana"), ("rep-2", "Ben"),
                                                         ("rep-3", "Chloé")]},
            "privacy": {"top": 1},
            "boards": [{"channel": f"#movers-{tag}", "metric": "calls"}],
        }
    )  # fmt: skip
    topics = declare_topics(new_faust_app(settings), settings)
    routing = Routing.from_directory(directory)
    rt = Runtime(settings, directory, routing, ReloadingTargets(None), store, topics)
    client = make_client(settings)
    channel = slack.state.channel_id(f"#movers-{tag}")

    def shown() -> str:
        (board,) = [m for m in slack.state.messages.values() if m.channel == channel]
        return str(board.blocks[2]["text"]["text"])

    await _calls(store, "rep-1", 5, start=0)
    await _calls(store, "rep-2", 3, start=10)
    await _calls(store, "rep-3", 1, start=20)
    await refresh_boards(rt, client, directory.boards, datetime.now(UTC))
    assert "Ana" in shown()
    assert "Ben" not in shown()
    assert "Chloé" not in shown()
    await _calls(store, "rep-3", 3, start=30)  # Chloé passes Ben: 4 to 3
    await refresh_boards(rt, client, directory.boards, datetime.now(UTC))
    assert "Chloé" in shown()  # she moved up
    assert "Ben" not in shown()  # the bottom of the list is never posted
