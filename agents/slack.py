"""The Slack app's request URLs on the worker, and the leader's App Home refresh.

``/slack/commands`` (``/spm``), ``/slack/events`` (Events API: App Home) and
``/slack/interactions`` (buttons) hand the raw body and headers to
``notifications.slackapp.SlackApp``, which verifies and answers them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import faust
from faust.web import Request, Response, View
from redis.exceptions import RedisError

from agents.runtime import Runtime
from notifications.notifier import Notifier
from notifications.slack import make_client
from notifications.slackapp import Handler, SlackApp

__all__ = ["make_slack_app", "register"]

log = logging.getLogger("spm_stream.agents.slack")


def make_slack_app(rt: Runtime, notifier: Notifier) -> SlackApp:
    """The Slack app of this worker: the notifier's state, the store, the people."""
    settings = rt.settings
    base = urlsplit(settings.slack_base_url)
    # Slack's hooks, and the configured API's own host (the local Slack server in tests).
    hosts = ("https://hooks.slack.com/", f"{base.scheme}://{base.netloc}/")
    secret = settings.slack_signing_secret
    return SlackApp(
        store=rt.store,
        state=notifier.state,
        directory=rt.directory,
        targets=rt.targets,
        client=make_client(settings) if settings.slack_token is not None else None,
        signing_secret=secret.get_secret_value() if secret is not None else None,
        response_hosts=hosts,
        templates_dir=settings.templates_dir,
    )


def register(app: faust.App, rt: Runtime, notifier: Notifier) -> SlackApp:
    """Add the three request URLs and, on the leader, the App Home refresh timer."""
    slack = make_slack_app(rt, notifier)

    def page(path: str, handle: Handler) -> None:
        class SlackRequest(View):
            async def post(self, request: Request) -> Response:
                raw = await request.read()
                status, body = await handle(raw, dict(request.headers), datetime.now(UTC))
                return self.json(body, status=status)

        SlackRequest.__name__ = f"Slack_{path.rsplit('/', 1)[-1]}"
        app.page(path)(SlackRequest)

    page("/slack/commands", slack.command)
    page("/slack/events", slack.event)
    page("/slack/interactions", slack.interaction)

    if rt.settings.slack_app_token is not None:
        _socket_mode(app, rt, slack)

    interval = rt.settings.home_refresh_s
    if interval > 0 and slack.client is not None:

        @app.timer(interval, on_leader=True, name="home-refresh")
        async def refresh_homes() -> None:
            try:
                done = await slack.refresh_homes(datetime.now(UTC))
            except (RedisError, OSError) as exc:
                log.error("App Home refresh failed, the next round retries: %r", exc)
                return
            if done.get("published"):
                log.info("App Home tabs published: %d", done["published"])

    return slack


def _socket_mode(app: faust.App, rt: Runtime, slack: SlackApp) -> None:
    """Take Slack's requests over Socket Mode (slack-sdk's client): every worker holds a
    connection, Slack hands each request to one of them."""
    from slack_sdk.socket_mode.aiohttp import SocketModeClient
    from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    assert rt.settings.slack_app_token is not None
    app_token = rt.settings.slack_app_token.get_secret_value()
    clients: list[SocketModeClient] = []  # made in the running loop (aiohttp wants one)

    async def on_request(socket: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        if request.type == "slash_commands":  # the reply is the acknowledgement itself
            answer = await slack.on_socket(request.type, request.payload, datetime.now(UTC))
            await socket.send_socket_mode_response(
                SocketModeResponse(envelope_id=request.envelope_id, payload=answer)
            )
            return
        # Acknowledged first (within Slack's 3 s), then handled.
        await socket.send_socket_mode_response(SocketModeResponse(request.envelope_id))
        now = datetime.now(UTC)
        await slack.on_socket(request.type, request.payload, now, request.retry_attempt)

    @app.task
    async def connect_socket_mode() -> None:
        client = SocketModeClient(app_token, web_client=make_client(rt.settings))
        client.socket_mode_request_listeners.append(on_request)
        clients.append(client)
        await client.connect()  # type: ignore[no-untyped-call]  # slack-sdk leaves it untyped
        log.info("Slack Socket Mode connected")

    @app.on_before_shutdown.connect
    async def close_socket_mode(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for client in clients:
            await client.close()  # type: ignore[no-untyped-call]
