"""The Web API methods spm-stream calls, answered the way Slack answers them."""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from notifications import blockkit
from spm_stream.devtools.slack_server import app as slack_side
from spm_stream.devtools.slack_server.page import page
from spm_stream.devtools.slack_server.state import STATE, Fault, SlackState, StoredMessage

__all__ = ["CHAT_UPDATE_PER_MINUTE", "make_app", "run_forever", "serve"]


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


#: chat.update is Tier 3: about 50 a minute per workspace; the 51st in a minute is a 429.
CHAT_UPDATE_PER_MINUTE: Final = 50


async def _api(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    method = request.match_info["method"]
    params = await _params(request)
    token = _token(request, params)
    state.calls.append({"method": method, "params": params, "at": time.time()})
    fault = state.take_fault(method)
    if fault is not None and not fault.lost_answer:
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
    if method == "apps.connections.open":  # Socket Mode: an app-level token, not the bot's
        if not token.startswith("xapp-"):
            return _error("not_allowed_token_type")
        return _ok(url=f"ws://{request.host}/_socket")
    if state.token is not None and token != state.token:
        return _error("invalid_auth")
    handler = _METHODS.get(method)
    if handler is None:
        return _error("unknown_method")
    answer = handler(state, params, request)
    if fault is not None:  # done, but the answer is lost: the client's timeout fires first
        await asyncio.sleep(fault.delay_s)
    return answer


def _token(request: web.Request, params: dict[str, Any]) -> str:
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ").strip() or str(params.get("token", ""))


def _auth_test(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    return _ok(
        url="http://localhost/",
        team="spm-local",
        user="spm-bot",
        team_id="T0LOCAL",
        user_id="U0SPMBOT",
        bot_id="B0SPMBOT",
    )


def _open(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    users = [u for u in str(params.get("users", "")).split(",") if u]
    if not users:
        return _error("users_list_not_supplied")
    return _ok(channel={"id": state.dm_channel(",".join(users))})


def _upload_url(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    file_id = f"F{next(state._clock):08d}"
    state.uploads[file_id] = {"name": str(params.get("filename", "")), "data": None}
    base = f"{request.scheme}://{request.host}"
    return _ok(upload_url=f"{base}/_upload/{file_id}", file_id=file_id)


def _checked_message(
    state: SlackState, params: dict[str, Any]
) -> tuple[str, str, list[Any]] | web.Response:
    """(conversation, text, blocks) of a chat.* call, or the error Slack would answer."""
    if not params.get("channel"):
        return _error("channel_not_found")
    channel = state.conversation(str(params["channel"]))
    text = str(params.get("text", ""))
    blocks = list(params.get("blocks") or [])
    if not text and not blocks:
        return _error("no_text")
    # What Slack refuses, refused here too, so tests see the limits a workspace enforces.
    if len(text) > blockkit.MAX_MESSAGE_TEXT:
        return _error("msg_too_long")
    if invalid := blockkit.problems(text, blocks):
        return web.json_response({"ok": False, "error": "invalid_blocks", "errors": invalid})
    return channel, text, blocks


def _post(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    checked = _checked_message(state, params)
    if isinstance(checked, web.Response):
        return checked
    channel, text, blocks = checked
    metadata = params.get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    ts = state.next_ts()
    state.messages[(channel, ts)] = StoredMessage(
        channel, ts, text, blocks, posted_at=time.time(), metadata=metadata
    )
    return _ok(channel=channel, ts=ts, message={"text": text, "blocks": blocks, "ts": ts})


def _update(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    now = time.time()
    recent = state.updates.setdefault(_token(request, params), collections.deque())
    while recent and recent[0] <= now - 60:
        recent.popleft()
    if len(recent) >= CHAT_UPDATE_PER_MINUTE:
        wait = max(1, int(recent[0] + 60 - now) + 1)
        return web.json_response(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(wait)}
        )
    recent.append(now)
    checked = _checked_message(state, params)
    if isinstance(checked, web.Response):
        return checked
    channel, text, blocks = checked
    ts = str(params.get("ts", ""))
    existing = state.messages.get((channel, ts))
    if existing is None:
        return _error("message_not_found")
    existing.history.append({"text": existing.text, "blocks": existing.blocks})
    existing.text, existing.blocks = text, blocks
    existing.edits += 1
    return _ok(channel=channel, ts=ts, text=text)


def _history(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    """conversations.history: newest first; metadata only with include_all_metadata."""
    if not params.get("channel"):
        return _error("channel_not_found")
    channel = state.conversation(str(params["channel"]))
    oldest = float(params.get("oldest") or 0)
    limit = min(int(params.get("limit") or 100), 999)
    with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
    found = sorted(
        (m for (c, _), m in state.messages.items() if c == channel and float(m.ts) > oldest),
        key=lambda m: m.ts,
        reverse=True,
    )[:limit]
    messages = []
    for m in found:
        entry: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text}
        if with_metadata and m.metadata:
            entry["metadata"] = m.metadata
        messages.append(entry)
    return _ok(messages=messages, has_more=False)


def _publish(state: SlackState, params: dict[str, Any], request: web.Request) -> web.Response:
    """views.publish: a user's Home tab, within the 100 blocks a view allows."""
    user = str(params.get("user_id", ""))
    view = params.get("view")
    if isinstance(view, str):
        view = json.loads(view)
    if not user or not isinstance(view, dict):
        return _error("invalid_arguments")
    if view.get("type") != "home":
        return _error("invalid_arguments")
    blocks = view.get("blocks") or []
    if invalid := blockkit.problems("", blocks, max_blocks=blockkit.MAX_HOME_BLOCKS):
        return web.json_response({"ok": False, "error": "invalid_blocks", "errors": invalid})
    state.views[user] = {**view, "published_at": time.time()}
    return _ok(view={"id": f"V{user}", "type": "home", "blocks": blocks})


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
            lost_answer=bool(spec.get("lost_answer", False)),
        )
    )
    return _ok(queued=len(state.faults))


_Method = Callable[[SlackState, dict[str, Any], web.Request], web.Response]
_METHODS: Final[dict[str, _Method]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post,
    "chat.update": _update,
    "conversations.open": _open,
    "conversations.history": _history,
    "views.publish": _publish,
    "files.getUploadURLExternal": _upload_url,
    "files.completeUploadExternal": lambda state, params, request: _complete_upload(state, params),
}


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
    app.router.add_get("/", page)
    slack_side.routes(app)
    return app


async def serve(host: str, port: int, state: SlackState | None = None) -> web.AppRunner:
    """Start the server in the running loop; returns the runner (``await runner.cleanup()``)."""
    runner = web.AppRunner(make_app(state), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_forever(
    host: str,
    port: int,
    token: str | None = None,
    *,
    app_url: str | None = None,
    signing_secret: str | None = None,
    people: dict[str, str] | None = None,
) -> None:
    """Serve until cancelled (the `spm-stream slack-server` command)."""
    state = SlackState(
        token=token, app_url=app_url, signing_secret=signing_secret, people=dict(people or {})
    )
    runner = await serve(host, port, state)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
