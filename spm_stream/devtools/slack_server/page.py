"""The local Slack server's page: channels, DMs, App Home tabs with working buttons, and a
box to type ``/spm`` as any user."""

from __future__ import annotations

import html
import json
import re
from typing import Any, Final

from aiohttp import web

from spm_stream.devtools.slack_server.state import STATE, SlackState, StoredMessage

__all__ = ["page"]


_EMOJI: Final = {
    "trophy": "🏆",
    "first_place_medal": "🥇",
    "second_place_medal": "🥈",
    "third_place_medal": "🥉",
    "tada": "🎉",
    "fire": "🔥",
    "warning": "⚠️",
    "calendar": "📆",
    "rotating_light": "🚨",
    "hourglass_flowing_sand": "⏳",
    "rocket": "🚀",
    "sunrise": "🌅",
    "bar_chart": "📊",
    "busts_in_silhouette": "👥",
    "red_circle": "🔴",
    "large_green_circle": "🟢",
    "checkered_flag": "🏁",
    "medal": "🏅",
    "telephone_receiver": "📞",
    "dart": "🎯",
}


def _mrkdwn(text: str) -> str:
    """The subset of Slack mrkdwn our templates use, as HTML: *bold*, _italic_, :emoji:."""
    # Slack text arrives with &, < and > entity-escaped; undo that before HTML-escaping.
    escaped = html.escape(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    escaped = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", escaped)
    escaped = re.sub(r"(?<![\w])_([^_\n]+)_(?![\w])", r"<i>\1</i>", escaped)
    return re.sub(r":([a-z0-9_+-]+):", lambda m: _EMOJI.get(m.group(1), m.group(0)), escaped)


def _button(element: dict[str, Any], where: dict[str, str] | None) -> str:
    label = _mrkdwn(element.get("text", {}).get("text", ""))
    if where is None:  # nobody to click as (a channel message): shown, not clickable
        return f"<button disabled>{label}</button>"
    fields = {
        "action_id": str(element.get("action_id", "")),
        "value": str(element.get("value", "")),
        **where,
    }
    hidden = "".join(
        f"<input type=hidden name={html.escape(k)} value='{html.escape(v, quote=True)}'>"
        for k, v in fields.items()
    )
    style = " class=primary" if element.get("style") == "primary" else ""
    return f"<form method=post action=/_click>{hidden}<button{style}>{label}</button></form>"


def _render_block(block: dict[str, Any], where: dict[str, str] | None = None) -> str:
    """One Block Kit block as HTML; a button posts the click, signed, to the app
    (``where``: the user who clicks, and the message's channel and ts if not a Home tab)."""
    kind = block.get("type")
    if kind == "header":
        return f"<h3>{_mrkdwn(block['text']['text'])}</h3>"
    if kind == "context":
        text = " ".join(e.get("text", "") for e in block.get("elements", []))
        return f"<div class=ctx>{_mrkdwn(text)}</div>"
    if kind == "section":
        return f"<pre>{_mrkdwn(block.get('text', {}).get('text', ''))}</pre>"
    if kind == "divider":
        return "<hr>"
    if kind == "actions":
        buttons = [
            _button(e, where) for e in block.get("elements", []) if e.get("type") == "button"
        ]
        return "<div class=actions>" + "".join(buttons) + "</div>"
    return f"<pre class=raw>{html.escape(json.dumps(block))}</pre>"


def _blocks(blocks: list[dict[str, Any]], where: dict[str, str] | None) -> str:
    return "".join(_render_block(b, where) for b in blocks)


def _people(state: SlackState) -> list[tuple[str, str]]:
    """Who can type /spm on the page: the people the server was told of, and DM partners."""
    known = dict(state.people)
    for message in state.messages.values():
        if message.channel.startswith("U"):
            known.setdefault(message.channel, message.channel)
    for user in state.views:
        known.setdefault(user, user)
    return sorted(known.items(), key=lambda item: item[1])


async def page(request: web.Request) -> web.Response:
    """The page: /spm box, private answers, App Home tabs, then every channel and DM."""
    state: SlackState = request.app[STATE]
    people = _people(state)
    options = "".join(
        f"<option value='{html.escape(u, quote=True)}'>{html.escape(n)}</option>" for u, n in people
    )
    tools = (
        "<section class=tools><form method=post action=/_command>"
        f"<select name=user>{options}</select> <code>/spm</code> "
        "<input name=text placeholder='me · board deals_won month · team · help' size=40> "
        "<button>Send</button></form>"
        f"<form method=post action=/_event><select name=user>{options}</select> "
        "<button>Open App Home</button></form></section>"
        if people and state.app_url
        else ""
    )
    names = dict(people)
    answers = [
        "<article class=private><div class=meta>only "
        f"{html.escape(names.get(e['user'], e['user']))} sees this · "
        f"{html.escape(str(e.get('via', '')))}</div>"
        f"{_blocks(e.get('blocks') or [], None) or _mrkdwn(str(e.get('text', '')))}</article>"
        for e in reversed(state.ephemeral[-8:])
    ]
    homes = [
        f"<article class=home><div class=meta>App Home of {html.escape(names.get(u, u))}</div>"
        f"{_blocks(view.get('blocks') or [], {'user': u})}</article>"
        for u, view in sorted(state.views.items())
    ]
    parts = []

    def channel(message: StoredMessage) -> str:
        return state.channel_names.get(message.channel, message.channel)

    for message in sorted(state.messages.values(), key=lambda m: (channel(m), m.ts)):
        where = channel(message)
        dm = message.channel.startswith("U")
        clicker = {"user": message.channel, "channel": message.channel, "ts": message.ts}
        body = _blocks(message.blocks, clicker if dm else None) or html.escape(message.text)
        body += "".join(
            f"<img src='/_files/{f['id']}' alt='{html.escape(f['title'])}' style='max-width:100%'>"
            for f in message.files
        )
        edited = f" · edited {message.edits} times" if message.edits else ""
        shown = f"DM · {names.get(where, where)}" if dm else where
        parts.append(
            f"<article><div class=meta>{html.escape(shown)} · ts {message.ts}{edited}</div>"
            f"{body}</article>"
        )
    body = (
        tools
        + ("<h2>Only you see these</h2>" + "".join(answers) if answers else "")
        + ("<h2>App Home</h2>" + "".join(homes) if homes else "")
        + "<h2>Channels and DMs</h2>"
        + ("".join(parts) or "<p>No messages yet.</p>")
    )
    html_page = _PAGE.format(count=len(state.messages), body=body)
    return web.Response(text=html_page, content_type="text/html")


_PAGE: Final = """<!doctype html><html><head><meta charset=utf-8>
<title>spm-stream · local Slack</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;background:#f8f8fa}}
article{{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.8rem 1rem;margin:.8rem 0}}
article.home{{border-color:#611f69}} article.private{{border-style:dashed}}
.meta,.ctx{{color:#666;font-size:.85rem}} .tools form{{margin:.4rem 0}}
.actions form{{display:inline}}
button.primary{{background:#007a5a;color:#fff;border:0;padding:.3rem .7rem;border-radius:4px}}
pre{{font-family:inherit;white-space:pre-wrap;margin:.4rem 0}}
h3{{margin:.3rem 0}}</style>
<script>setInterval(() => {{ const a = document.activeElement;
 if (!a || !["INPUT", "SELECT"].includes(a.tagName)) location.reload(); }}, 2000);</script>
</head><body><h1>Local Slack · {count} message(s)</h1>{body}
</body></html>"""
