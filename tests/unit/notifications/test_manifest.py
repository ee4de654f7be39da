"""slack/manifest.yaml asks for the scopes the code uses, no others, and names our URLs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[3]
#: The bot scopes each Web API method spm-stream calls needs (Slack's method reference).
SCOPES_OF: dict[str, set[str]] = {
    "chat_postMessage": {"chat:write"},
    "chat_update": {"chat:write"},
    "conversations_open": {"im:write"},
    "conversations_history": {"im:history", "channels:history", "groups:history"},
    "files_upload_v2": {"files:write"},
    "views_publish": set(),  # a Home tab needs the bot user, no scope
}


def _called() -> set[str]:
    sources = [*ROOT.glob("notifications/*.py"), *ROOT.glob("agents/*.py")]
    return {
        m
        for path in sources
        for m in re.findall(
            r"client\.((?:chat|conversations|views|files|users|auth)_\w+)\(",
            path.read_text(encoding="utf-8"),
        )
    }


def test_the_manifest_asks_for_exactly_the_scopes_the_code_needs() -> None:
    manifest = yaml.safe_load((ROOT / "slack/manifest.yaml").read_text(encoding="utf-8"))
    called = _called()
    assert called <= set(SCOPES_OF), f"a Slack method without a known scope: {called}"
    needed = set().union(*(SCOPES_OF[m] for m in called))
    needed |= {"commands"}  # the /spm slash command
    needed |= {"metadata.message:read"}  # conversations.history's include_all_metadata
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_the_manifest_names_the_request_urls_the_worker_serves() -> None:
    manifest = yaml.safe_load((ROOT / "slack/manifest.yaml").read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/spm"
    assert command["url"].endswith("/slack/commands")
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/interactions")
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    served = (ROOT / "agents/slack.py").read_text(encoding="utf-8")
    for path in ("/slack/commands", "/slack/events", "/slack/interactions"):
        assert f'"{path}"' in served
