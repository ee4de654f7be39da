"""A local Slack-Web-API-compatible server for tests and the demo.

It answers the methods spm-stream calls the way Slack does (``{"ok": true, …}``
or ``{"ok": false, "error": "…"}``, HTTP 200), keeps every message it receives
with its edits, and shows them on an HTML page (``/``) and as JSON
(``/_messages``). Point ``WebClient(base_url="http://HOST:PORT/api/")`` at it.

Faults can be queued for tests: ``POST /_faults`` with
``{"method": "chat.postMessage", "status": 429, "retry_after": 1, "count": 2}``
(``"error"`` sets Slack's error code, ``"delay_s"`` answers late, as in a timeout).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from notifications import blockkit

__all__ = ["SlackState", "make_app", "run_forever", "serve"]

_METHODS: Final = (
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "conversations.open",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
)


@dataclass
class StoredMessage:
    """One message as Slack would keep it, with the history of its edits."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    posted_at: float
    edits: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
            "edits": self.edits,
            "posted_at": self.posted_at,
            "files": self.files,
        }


@dataclass
class Fault:
    """A queued failure for the next ``count`` calls of ``method``."""

    method: str
    status: int
    count: int
    retry_after: int | None = None
    error: str | None = None
    delay_s: float = 0.0  # answer this late (a client timeout), then fail as above


@dataclass
class SlackState:
    """Everything the server received: messages, calls and queued faults."""

    token: str | None = None
    messages: dict[tuple[str, str], StoredMessage] = field(default_factory=dict)
    channel_names: dict[str, str] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_ts(self) -> str:
        # Slack's ts is "seconds.micro" and unique per channel; a counter keeps it unique.
        return f"{int(time.time())}.{next(self._clock):06d}"

    def channel_id(self, name_or_id: str) -> str:
        if not name_or_id.startswith("#"):
            return name_or_id
        cid = "C" + hashlib.sha1(name_or_id.encode()).hexdigest()[:9].upper()
        self.channel_names[cid] = name_or_id
        return cid

    def take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*") and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None


STATE: Final = web.AppKey("state", SlackState)


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.body_exists:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update(dict(await request.post()))
    for name in ("blocks", "attachments"):
        if isinstance(params.get(name), str):
            params[name] = json.loads(params[name])
    return params


def _ok(**payload: Any) -> web.Response:
    return web.json_response({"ok": True, **payload})


def _error(error: str, status: int = 200) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


async def _api(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    method = request.match_info["method"]
    params = await _params(request)
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() or str(params.get("token", ""))
    state.calls.append({"method": method, "params": params, "at": time.time()})
    fault = state.take_fault(method)
    if fault is not None:
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        body = {
            "ok": False,
            "error": fault.error or ("ratelimited" if fault.status == 429 else "internal_error"),
        }
        return web.json_response(body, status=fault.status, headers=headers)
    if not token:
        return _error("not_authed")
    if state.token is not None and token != state.token:
        return _error("invalid_auth")
    if method not in _METHODS:
        return _error("unknown_method")
    if method == "auth.test":
        return _ok(
            url="http://localhost/",
            team="spm-local",
            user="spm-bot",
            team_id="T0LOCAL",
            user_id="U0SPMBOT",
            bot_id="B0SPMBOT",
        )
    if method == "conversations.open":
        users = str(params.get("users", "")).split(",")
        if not users or not users[0]:
            return _error("users_list_not_supplied")
        return _ok(
            channel={"id": "D" + hashlib.sha1(",".join(users).encode()).hexdigest()[:9].upper()}
        )
    if method == "files.getUploadURLExternal":
        file_id = f"F{next(state._clock):08d}"
        state.uploads[file_id] = {"name": str(params.get("filename", "")), "data": None}
        base = f"{request.scheme}://{request.host}"
        return _ok(upload_url=f"{base}/_upload/{file_id}", file_id=file_id)
    if method == "files.completeUploadExternal":
        return _complete_upload(state, params)
    channel = params.get("channel")
    if not channel:
        return _error("channel_not_found")
    channel = state.channel_id(str(channel))
    text = str(params.get("text", ""))
    blocks = list(params.get("blocks") or [])
    if not text and not blocks:
        return _error("no_text")
    # What Slack refuses, refused here too, so tests see the limits a workspace enforces.
    if len(text) > blockkit.MAX_MESSAGE_TEXT:
        return _error("msg_too_long")
    if invalid := blockkit.problems(text, blocks):
        return web.json_response({"ok": False, "error": "invalid_blocks", "errors": invalid})
    if method == "chat.postMessage":
        ts = state.next_ts()
        message = StoredMessage(channel, ts, text, blocks, posted_at=time.time())
        state.messages[(channel, ts)] = message
        return _ok(channel=channel, ts=ts, message={"text": text, "blocks": blocks, "ts": ts})
    # chat.update
    ts = str(params.get("ts", ""))
    existing = state.messages.get((channel, ts))
    if existing is None:
        return _error("message_not_found")
    existing.history.append({"text": existing.text, "blocks": existing.blocks})
    existing.text, existing.blocks = text, blocks
    existing.edits += 1
    return _ok(channel=channel, ts=ts, text=text)


def _complete_upload(state: SlackState, params: dict[str, Any]) -> web.Response:
    """files.completeUploadExternal: share uploaded files in a channel as one message."""
    files = params.get("files")
    listed = json.loads(files) if isinstance(files, str) else files or []
    if not listed or any(f.get("id") not in state.uploads for f in listed):
        return _error("file_not_found")
    if any(state.uploads[f["id"]]["data"] is None for f in listed):
        return _error("file_upload_incomplete")
    shared = [
        {"id": f["id"], "title": f.get("title") or "", "name": state.uploads[f["id"]]["name"]}
        for f in listed
    ]
    channel_id = params.get("channel_id")
    if channel_id:
        channel = state.channel_id(str(channel_id))
        ts = state.next_ts()
        text = str(params.get("initial_comment") or "")
        message = StoredMessage(channel, ts, text, [], posted_at=time.time(), files=shared)
        state.messages[(channel, ts)] = message
    return _ok(files=shared)


async def _upload(request: web.Request) -> web.Response:
    """The upload URL handed out by files.getUploadURLExternal: takes the raw bytes."""
    state: SlackState = request.app[STATE]
    upload = state.uploads.get(request.match_info["file_id"])
    if upload is None:
        return web.Response(status=404, text="unknown upload")
    upload["data"] = await request.read()
    return web.Response(text=f"OK - {len(upload['data'])}")


async def _file(request: web.Request) -> web.Response:
    """An uploaded file's bytes, for the page and tests."""
    state: SlackState = request.app[STATE]
    upload = state.uploads.get(request.match_info["file_id"])
    if upload is None or upload["data"] is None:
        return web.Response(status=404)
    kind = "image/png" if upload["data"].startswith(b"\x89PNG") else "application/octet-stream"
    return web.Response(body=upload["data"], content_type=kind)


async def _messages(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    messages = sorted(state.messages.values(), key=lambda m: m.ts)
    return web.json_response(
        {"messages": [m.as_json() for m in messages], "calls": len(state.calls)}
    )


async def _add_fault(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    spec = await request.json()
    state.faults.append(
        Fault(
            method=spec.get("method", "*"),
            status=int(spec.get("status", 500)),
            count=int(spec.get("count", 1)),
            retry_after=spec.get("retry_after"),
            error=spec.get("error"),
            delay_s=float(spec.get("delay_s", 0)),
        )
    )
    return _ok(queued=len(state.faults))


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
    escaped = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", escaped)
    escaped = re.sub(r"(?<![\w])_([^_\n]+)_(?![\w])", r"<i>\1</i>", escaped)
    return re.sub(r":([a-z0-9_+-]+):", lambda m: _EMOJI.get(m.group(1), m.group(0)), escaped)


def _render_block(block: dict[str, Any]) -> str:
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
        # Buttons as Slack shows them; pressing them in Slack posts to /slack/interactions.
        labels = [
            _mrkdwn(e.get("text", {}).get("text", ""))
            for e in block.get("elements", [])
            if e.get("type") == "button"
        ]
        return "<div class=actions>" + "".join(f"<button>{b}</button>" for b in labels) + "</div>"
    return f"<pre class=raw>{html.escape(json.dumps(block))}</pre>"


async def _page(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    parts = []

    def channel(message: StoredMessage) -> str:
        return state.channel_names.get(message.channel, message.channel)

    for message in sorted(state.messages.values(), key=lambda m: (channel(m), m.ts)):
        where = channel(message)
        body = "".join(_render_block(b) for b in message.blocks) or html.escape(message.text)
        body += "".join(
            f"<img src='/_files/{f['id']}' alt='{html.escape(f['title'])}' style='max-width:100%'>"
            for f in message.files
        )
        edited = f" · edited {message.edits} times" if message.edits else ""
        parts.append(
            f"<article><div class=meta>{html.escape(where)} · ts {message.ts}{edited}</div>"
            f"{body}</article>"
        )
    page = _PAGE.format(
        count=len(state.messages), messages="".join(parts) or "<p>No messages yet.</p>"
    )
    return web.Response(text=page, content_type="text/html")


_PAGE: Final = """<!doctype html><html><head><meta charset=utf-8>
<meta http-equiv=refresh content=2><title>spm-stream · local Slack</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;background:#f8f8fa}}
article{{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.8rem 1rem;margin:.8rem 0}}
.meta,.ctx{{color:#666;font-size:.85rem}}
pre{{font-family:inherit;white-space:pre-wrap;margin:.4rem 0}}
h3{{margin:.3rem 0}}</style></head><body><h1>Local Slack · {count} message(s)</h1>{messages}
</body></html>"""


def make_app(state: SlackState | None = None) -> web.Application:
    """The aiohttp application; share ``state`` to inspect what it received."""
    app = web.Application()
    app[STATE] = state or SlackState()
    app.router.add_post("/api/{method}", _api)
    app.router.add_get("/api/{method}", _api)
    app.router.add_get("/_messages", _messages)
    app.router.add_post("/_faults", _add_fault)
    app.router.add_post("/_upload/{file_id}", _upload)
    app.router.add_get("/_files/{file_id}", _file)
    app.router.add_get("/", _page)
    return app


async def serve(host: str, port: int, state: SlackState | None = None) -> web.AppRunner:
    """Start the server in the running loop; returns the runner (``await runner.cleanup()``)."""
    runner = web.AppRunner(make_app(state), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_forever(host: str, port: int, token: str | None = None) -> None:
    """Serve until cancelled (the `spm-stream slack-server` command)."""
    runner = await serve(host, port, SlackState(token=token))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
