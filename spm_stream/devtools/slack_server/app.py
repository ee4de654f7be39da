"""The local Slack server playing Slack towards the app: signed requests, as Slack sends them.

Slack calls an app's request URLs with ``X-Slack-Request-Timestamp`` and
``X-Slack-Signature: v0=HMAC-SHA256(signing secret, "v0:<ts>:<body>")``. The
server does the same, on demand (``POST /_command``, ``/_event``, ``/_click``, or
the page's forms): a slash command as a form body with a ``response_url`` that
points back here, an Events API callback (``event_callback`` with an ``event_id``;
``retry_num`` resends the same event as a Slack retry, with ``X-Slack-Retry-Num``),
and a button's ``block_actions`` payload. What the app answers a person privately
(the command's reply, posts to a ``response_url``) is kept in ``ephemeral``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from spm_stream.devtools.slack_server.state import STATE, SlackState

__all__ = ["routes", "send_click", "send_command", "send_event", "sign"]

_IDS: Final = itertools.count(1)
_TEAM: Final = "T0LOCAL"


def sign(body: bytes, secret: str, at: float | None = None) -> dict[str, str]:
    """The headers Slack adds to a request it sends: its time and signature."""
    stamp = str(int(time.time() if at is None else at))
    base = f"v0:{stamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


async def _over_socket(
    state: SlackState, kind: str, payload: dict[str, Any], retry: int = 0
) -> tuple[int, Any]:
    """Socket Mode: the request as an envelope on the app's connection; its ack's payload."""
    envelope = f"{next(_IDS):08d}-local"
    done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    state.acks[envelope] = done
    message = {
        "envelope_id": envelope,
        "type": kind,
        "payload": payload,
        "accepts_response_payload": kind == "slash_commands",
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
    }
    await state.sockets[0].send_str(json.dumps(message))
    try:
        ack = await asyncio.wait_for(done, 3.0)  # Slack's three seconds
    except TimeoutError:
        return 504, {"error": "no acknowledgement within 3 s"}
    finally:
        state.acks.pop(envelope, None)
    return 200, ack.get("payload") or {"ok": True}


async def _send(
    state: SlackState, path: str, body: bytes, content_type: str, extra: dict[str, str]
) -> tuple[int, Any]:
    if state.app_url is None or state.signing_secret is None:
        return 503, {"error": "the local Slack server has no app_url and signing_secret"}
    headers = {"Content-Type": content_type, **sign(body, state.signing_secret), **extra}
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(state.app_url.rstrip("/") + path, data=body, headers=headers) as answer,
    ):
        text = await answer.text()
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, text


def _response_url(state: SlackState, base: str, user: str) -> str:
    rid = f"R{next(_IDS):06d}"
    state.responders[rid] = user
    return f"{base}/_respond/{rid}"


async def send_command(state: SlackState, base: str, user: str, text: str) -> tuple[int, Any]:
    """Send ``/spm <text>`` as ``user``; the app's immediate answer (kept when ephemeral)."""
    form = {
        "token": "local",
        "team_id": _TEAM,
        "team_domain": "spm-local",
        "channel_id": state.dm_channel(user),
        "user_id": user,
        "command": "/spm",
        "text": text,
        "response_url": _response_url(state, base, user),
        "trigger_id": f"{next(_IDS)}.{int(time.time())}.local",
        "api_app_id": "A0LOCAL",
    }
    if state.sockets:
        status, answer = await _over_socket(state, "slash_commands", form)
    else:
        body = urlencode(form).encode()
        kind = "application/x-www-form-urlencoded"
        status, answer = await _send(state, "/slack/commands", body, kind, {})
    if status == 200 and isinstance(answer, dict) and answer.get("text"):
        state.ephemeral.append({"user": user, "via": f"/spm {text}", "at": time.time(), **answer})
    return status, answer


async def send_event(
    state: SlackState, event: dict[str, Any], *, event_id: str | None = None, retry_num: int = 0
) -> tuple[int, Any]:
    """Deliver an Events API callback; ``retry_num`` > 0 resends ``event_id`` as Slack retries."""
    event_id = event_id or f"Ev{next(_IDS):08d}"
    payload = {
        "token": "local",
        "team_id": _TEAM,
        "api_app_id": "A0LOCAL",
        "event": {**event, "event_ts": f"{time.time():.6f}"},
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
    }
    if state.sockets:
        return await _over_socket(state, "events_api", payload, retry_num)
    extra = {}
    if retry_num:
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
    body = json.dumps(payload).encode()
    return await _send(state, "/slack/events", body, "application/json", extra)


async def send_click(
    state: SlackState,
    base: str,
    user: str,
    action: dict[str, Any],
    *,
    message: tuple[str, str] | None = None,
) -> tuple[int, Any]:
    """Click a button as ``user``: in a message (``message`` = channel, ts), else their Home."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": _TEAM},
        "user": {"id": user},
        "api_app_id": "A0LOCAL",
        "trigger_id": f"{next(_IDS)}.{int(time.time())}.local",
        "actions": [{**action, "type": "button", "action_ts": f"{time.time():.6f}"}],
    }
    if message is not None:
        channel, ts = message
        payload["container"] = {"type": "message", "channel_id": channel, "message_ts": ts}
        payload["response_url"] = _response_url(state, base, user)
    else:
        payload["container"] = {"type": "view", "view_id": f"V{user}"}
        payload["view"] = {"id": f"V{user}", "type": "home"}
    if state.sockets:
        return await _over_socket(state, "interactive", payload)
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return await _send(state, "/slack/interactions", body, "application/x-www-form-urlencoded", {})


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


async def _respond(request: web.Request) -> web.Response:
    """A response_url: what the app posts here is shown to the person privately."""
    state: SlackState = request.app[STATE]
    user = state.responders.get(request.match_info["rid"])
    if user is None:
        return web.json_response({"ok": False, "error": "expired_url"}, status=404)
    body = await request.json()
    state.ephemeral.append({"user": user, "via": "response_url", "at": time.time(), **body})
    return web.json_response({"ok": True})


async def _form_or_json(request: web.Request) -> tuple[dict[str, Any], bool]:
    if request.content_type == "application/json":
        return dict(await request.json()), False
    return dict(await request.post()), True  # a form of the page: back to the page after


def _done(from_page: bool, status: int, answer: Any) -> web.Response:
    if from_page:
        raise web.HTTPSeeOther("/")
    return web.json_response({"status": status, "answer": answer})


async def _command(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    spec, from_page = await _form_or_json(request)
    status, answer = await send_command(
        state, _base(request), str(spec["user"]), str(spec.get("text", ""))
    )
    return _done(from_page, status, answer)


async def _event(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    spec, from_page = await _form_or_json(request)
    event = spec.get("event") or {"type": "app_home_opened", "user": spec["user"], "tab": "home"}
    if isinstance(event, str):
        event = json.loads(event)
    status, answer = await send_event(
        state, event, event_id=spec.get("event_id"), retry_num=int(spec.get("retry_num", 0))
    )
    return _done(from_page, status, answer)


async def _click(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    spec, from_page = await _form_or_json(request)
    action = {"action_id": str(spec["action_id"]), "value": str(spec.get("value", ""))}
    where = (str(spec["channel"]), str(spec["ts"])) if spec.get("ts") else None
    status, answer = await send_click(
        state, _base(request), str(spec["user"]), action, message=where
    )
    return _done(from_page, status, answer)


async def _ephemeral(request: web.Request) -> web.Response:
    state: SlackState = request.app[STATE]
    return web.json_response({"ephemeral": state.ephemeral, "views": state.views})


async def _socket(request: web.Request) -> web.WebSocketResponse:
    """Socket Mode's connection: a hello, then envelopes out and acknowledgements in."""
    state: SlackState = request.app[STATE]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    state.sockets.append(ws)
    hello = {"type": "hello", "num_connections": len(state.sockets), "debug_info": {}}
    await ws.send_str(json.dumps(hello))
    try:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            waiting = state.acks.get(str(ack.get("envelope_id", "")))
            if waiting is not None and not waiting.done():
                waiting.set_result(ack)
    finally:
        state.sockets.remove(ws)
    return ws


def routes(app: web.Application) -> None:
    """Add the app-facing endpoints to the server."""
    app.router.add_get("/_socket", _socket)
    app.router.add_post("/_respond/{rid}", _respond)
    app.router.add_post("/_command", _command)
    app.router.add_post("/_event", _event)
    app.router.add_post("/_click", _click)
    app.router.add_get("/_ephemeral", _ephemeral)
