"""Slack messages are rendered from templates; snapshot per locale."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from notifications.boards import board_message
from notifications.render import LOCALES, SAMPLES, as_terminal, check_templates, render, sample
from spm_stream.config.directory import Directory
from spm_stream.ranking.leaderboards import Row

SNAPSHOTS = Path(__file__).parent / "snapshots"

DIRECTORY = Directory.model_validate(
    {
        "teams": {"emea": {"name": 'EMEA "SMB"', "channel": "#emea"}},
        "people": {"rep-1": {"name": "Ana <admin>"}, "rep-2": {"name": "Ben"}},
    }
)
ENTRIES = [
    Row(1, "rep-1", 12.0, 12, "day:2026-11-02"),
    Row(2, "rep-2", 7.0, 7, "day:2026-11-02"),
    Row(3, "rep-3", 7.0, 7, "day:2026-11-02"),
    Row(4, "rep-4", 1.5, 2, "day:2026-11-02"),
]


@pytest.mark.parametrize("locale", LOCALES)
def test_leaderboard_snapshot(locale: str) -> None:
    message = board_message(
        ENTRIES,
        directory=DIRECTORY,
        team_id="emea",
        metric="calls",
        period_label="2026-11-02",
        updated="10:15:00",
        locale=locale,
    )
    rendered = {"text": message.text, "blocks": message.blocks}
    snapshot = SNAPSHOTS / f"leaderboard.{locale}.json"
    if os.environ.get("SPM_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert rendered == json.loads(snapshot.read_text("utf-8"))


def test_user_text_cannot_break_the_json() -> None:
    message = board_message(
        ENTRIES,
        directory=DIRECTORY,
        team_id="emea",
        metric="calls",
        period_label='x"}]',
        updated="now",
        locale="en",
    )
    assert 'EMEA "SMB"' in message.blocks[0]["text"]["text"]
    assert "Ana &lt;admin&gt;" in message.blocks[2]["text"]["text"]


def test_empty_board_says_so() -> None:
    message = board_message(
        [],
        directory=DIRECTORY,
        team_id="emea",
        metric="calls",
        period_label="today",
        updated="now",
        locale="de",
    )
    assert "noch keine" in message.blocks[2]["text"]["text"]


def test_override_directory_wins(tmp_path: Path) -> None:
    (tmp_path / "leaderboard.json.j2").write_text(
        '{"text": {{ board_title | tojson }}, "blocks": []}', encoding="utf-8"
    )
    message = render(
        "leaderboard",
        "en",
        {"board_title": "custom", "period_label": "", "rows": [], "updated": "", "empty": True},
        override_dir=tmp_path,
    )
    assert message.text == "custom"
    assert message.blocks == []


def test_override_templates_cannot_reach_python_internals(tmp_path: Path) -> None:
    """An override renders in Jinja2's sandbox: the classic escape is refused at start-up."""
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() | length }}"
    (tmp_path / "nudge.json.j2").write_text(
        '{"text": "' + escape + '", "blocks": []}', encoding="utf-8"
    )
    problems = check_templates(["en"], tmp_path)
    assert any("nudge" in p and "unsafe" in p for p in problems), problems


def test_local_slack_page_renders_our_mrkdwn_safely() -> None:
    from spm_stream.devtools.slack_server.page import _mrkdwn

    assert _mrkdwn(":first_place_medal: Ana &lt;admin&gt; — *12*") == (
        "🥇 Ana &lt;admin&gt; — <b>12</b>"
    )
    assert _mrkdwn("<script>") == "&lt;script&gt;"
    assert _mrkdwn(":unknown_emoji: snake_case_name") == ":unknown_emoji: snake_case_name"


ALERT_KINDS = sorted(p.stem for p in SAMPLES.glob("*.json"))
ALERT_DIRECTORY = Directory.model_validate(
    {
        "people": {
            "rep-17": {"name": "Ana <!channel>", "slack_id": "U0REP0017"},
            "mgr-1": {"name": "Mia", "slack_id": "U0MGR0001"},
        }
    }
)


def test_every_alert_kind_has_a_sample() -> None:
    from spm_stream.rules.alerts import RULES

    assert sorted(set(RULES.values())) == ALERT_KINDS


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", ALERT_KINDS)
def test_alert_templates_snapshot(kind: str, locale: str) -> None:
    data = sample(kind)
    context = {
        "a": data["data"],
        "rep": ALERT_DIRECTORY.display_name(data["subject"]),
        "name": ALERT_DIRECTORY.display_name(data["recipient"]),
        "zone": "Europe/Berlin",
    }
    message = render(kind, locale, context)
    assert 0 < len(message.blocks) <= 50
    assert message.text
    rendered = {"text": message.text, "blocks": message.blocks}
    # Names reach mrkdwn (and the notification text) escaped, so "<!channel>" pings nobody;
    # plain_text headers show it literally.
    mrkdwn = [message.text] + [
        str(part["text"])
        for block in message.blocks
        for part in [block.get("text", {}), *block.get("elements", [])]
        if part.get("type") == "mrkdwn"
    ]
    assert not any("<!channel>" in text for text in mrkdwn)
    snapshot = SNAPSHOTS / f"{kind}.{locale}.json"
    if os.environ.get("SPM_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(rendered, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert rendered == json.loads(snapshot.read_text("utf-8"))


def test_terminal_preview_shows_the_text_and_the_button() -> None:
    s = sample("nudge")
    message = render("nudge", "en", {"a": s["data"], "rep": "Ana", "name": "Ana", "zone": "UTC"})
    shown = as_terminal(message)
    assert "# :sunrise: Good morning, Ana" in shown
    assert "[ Snooze 1 day ]" in shown
    assert "Reschedule 2 no-shows" in shown
    assert "Calls: 32 more to be on pace" in shown


def test_unknown_sample_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: back_on_pace"):
        sample("nope")


def test_user_text_cannot_ping_link_or_break_a_message() -> None:
    from notifications.render import mrkdwn_escape

    escaped = mrkdwn_escape("Ana\n\n*URGENT* see http://evil.example or www.evil.example <!here>")
    assert "\n" not in escaped
    assert "http://" not in escaped
    assert "www." not in escaped
    assert "<!here>" not in escaped
    assert escaped.startswith("Ana *URGENT* see http")
    assert mrkdwn_escape("Jürgen Müller · 张伟") == "Jürgen Müller · 张伟"


@pytest.mark.parametrize(
    ("locale", "one", "many"),
    [
        ("en", "Reschedule 1 no-show", "Reschedule 3 no-shows"),
        ("de", "1 No-Show neu terminieren", "3 No-Shows neu terminieren"),
        ("zh", "重新安排 1 个爽约会议", "重新安排 3 个爽约会议"),
    ],
)
def test_counts_take_real_plurals(locale: str, one: str, many: str) -> None:
    given = sample("nudge")
    for count, expected in ((1, one), (3, many)):
        data = {**given["data"], "actions": [{"kind": "reschedule", "count": count}]}
        message = render("nudge", locale, {"a": data, "rep": "Ana", "name": "Ana", "zone": "UTC"})
        shown = json.dumps(message.blocks, ensure_ascii=False)
        assert expected in shown
        assert "(s)" not in shown


def test_rates_show_one_decimal_and_the_locales_percent() -> None:
    given = sample("behind_target")
    data = {**given["data"], "metric": "reach_rate", "unit": "percent", "actual": 34.5,
            "target": 40, "expected": 40.0, "gap": 5.5}  # fmt: skip
    en = render("behind_target", "en", {"a": data, "rep": "Ana", "name": "Ana", "zone": "UTC"})
    de = render("behind_target", "de", {"a": data, "rep": "Ana", "name": "Ana", "zone": "UTC"})
    assert "34.5% of 40%" in json.dumps(en.blocks)
    assert "bisher 34,5 % von 40 %" in json.dumps(de.blocks, ensure_ascii=False)


def test_the_local_slack_page_shows_every_emoji_our_messages_use_and_real_buttons() -> None:
    from spm_stream.devtools.slack_server.page import _EMOJI, _render_block

    root = Path(__file__).parents[3]
    sources = [
        *root.glob("notifications/templates/*.j2"),
        root / "spm_stream/ranking/gamification.py",
    ]
    used = {m for path in sources for m in re.findall(r":([a-z0-9_+-]+):", path.read_text())}
    used -= {"emoji"}  # a docstring's placeholder
    assert used <= set(_EMOJI), used - set(_EMOJI)
    button = {
        "type": "button",
        "action_id": "snooze",
        "text": {"type": "plain_text", "text": "Snooze"},
    }
    # In a channel nobody clicks as anyone: shown, not clickable.
    assert _render_block({"type": "actions", "elements": [button]}) == (
        "<div class=actions><button disabled>Snooze</button></div>"
    )
    # In a DM or a Home tab a button posts the click, which the server signs and sends.
    clickable = _render_block(
        {"type": "actions", "elements": [{**button, "value": "snooze:rep-1"}]}, {"user": "U1"}
    )
    assert clickable.startswith("<div class=actions><form method=post action=/_click>")
    assert "name=value value='snooze:rep-1'" in clickable
    assert "name=user value='U1'" in clickable
    assert "<button>Snooze</button></form>" in clickable


def test_board_scores_and_periods_read_the_same_on_every_board() -> None:
    from datetime import date

    from notifications.boards import period_text, score
    from notifications.render import labels

    de, en = labels("de"), labels("en")
    assert score("reach_rate", 34.4828, de) == "34,5 %"
    assert score("reach_rate", 34.4828, en) == "34.5%"
    assert score("revenue:EUR", 1200, de) == "1.200 EUR"
    assert score("calls", 12.0, en) == "12"
    day = date(2026, 11, 2)
    assert period_text(en, "day", day, day) == "Today · 2026-11-02"
    week = period_text(de, "week", date(2026, 11, 30), date(2026, 12, 6))
    assert week == "Diese Woche · 2026-11-30 \N{EN DASH} 2026-12-06"
