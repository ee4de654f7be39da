"""The Slack app: the ``/spm`` command, the Events API (App Home) and interactivity.

Each request URL verifies Slack's signature first (``notifications.requests``:
forged, stale and replayed requests get 401) and answers within Slack's three
seconds: a command's reply is the HTTP answer itself when it is ready in time,
else an ephemeral "one moment" now and the reply through the command's
``response_url``. Events API retries (``X-Slack-Retry-Num``) of an event already
handled are acknowledged and do nothing. A button's click is confirmed to the
person who clicked, through the message's ``response_url`` (a Home tab click
republishes the tab instead). Everything a person reads is rendered in their
locale from the templates ``spm_me``, ``spm_team`` and ``spm_text``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from notifications import home
from notifications.boards import board_message, period_text
from notifications.commands import Command, parse
from notifications.home import HomeViews
from notifications.interactions import click
from notifications.render import Message, labels, local_time, render
from notifications.requests import refused
from notifications.state import NotifyState
from spm_stream.config.directory import Directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import ReloadingTargets
from spm_stream.ranking.fair import rank_by_of
from spm_stream.ranking.privacy import own_rows, shared_rows
from spm_stream.reports.dashboard import rep_dashboard, team_dashboard
from spm_stream.reports.query import BoardContext, BoardQuery, board_rows
from spm_stream.store.redis_store import Store

__all__ = ["ACK_WITHIN_S", "Answer", "Handler", "SlackApp"]

log = logging.getLogger("spm_stream.notifications.slackapp")

#: Slack wants an answer within 3 s; the reply itself goes out later when it takes longer.
ACK_WITHIN_S: Final = 2.5
#: How long an Events API event id is remembered: Slack retries for about an hour.
EVENT_MEMORY_S: Final = 2 * 3600

Answer = tuple[int, dict[str, Any]]


@dataclass
class SlackApp:
    """What the Slack app's request URLs share in one worker."""

    store: Store
    state: NotifyState
    directory: Directory
    targets: ReloadingTargets
    client: AsyncWebClient | None
    signing_secret: str | None
    response_hosts: tuple[str, ...] = ("https://hooks.slack.com/",)
    templates_dir: Path | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False)

    @property
    def homes(self) -> HomeViews:
        """Who opened their Home tab and what they were last shown."""
        return self.state.homes

    # -- who and how ------------------------------------------------------------------

    def person_of(self, slack_user: str) -> str | None:
        """The people-file id of a Slack user, if they are in it."""
        for pid, person in self.directory.people.items():
            if person.slack_id == slack_user:
                return pid
        return None

    def _render(self, kind: str, person: str | None, context: dict[str, Any]) -> Message:
        locale = self.directory.locale_of(person) if person else self.directory.locale
        zone = str(self.directory.zone_of(person)) if person else str(self.directory.zone())
        return render(kind, locale, {"zone": zone, **context}, self.templates_dir)

    def _text(self, person: str | None, label: str, **values: str) -> Message:
        return self._render("spm_text", person, {"a": {"label": label, "values": values}})

    async def _verified(self, body: bytes, headers: Mapping[str, str], now: datetime) -> str | None:
        if self.signing_secret is None:
            return "SPM_SLACK_SIGNING_SECRET is not set"
        return await refused(
            body, headers, self.signing_secret, self.state.replays, now.timestamp()
        )

    # -- /spm --------------------------------------------------------------------------

    async def command(self, body: bytes, headers: Mapping[str, str], now: datetime) -> Answer:
        """``/spm …``: verified, answered ephemerally within Slack's three seconds."""
        if (why := await self._verified(body, headers, now)) is not None:
            return 401, {"error": why}
        form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
        return 200, await self.on_command(form, now)

    async def on_command(self, form: Mapping[str, str], now: datetime) -> dict[str, Any]:
        """The ephemeral reply to a verified ``/spm`` (HTTP or Socket Mode), or a "one
        moment" when it takes longer than Slack waits, the reply following later."""
        user, text = form.get("user_id", ""), form.get("text", "")
        reply = asyncio.ensure_future(self.answer(user, parse(text), now))
        try:
            message = await asyncio.wait_for(asyncio.shield(reply), ACK_WITHIN_S)
        except TimeoutError:
            later = form.get("response_url", "")
            self._background(self._reply_later(reply, later))
            return {"response_type": "ephemeral", "text": ":hourglass_flowing_sand: …"}
        return {"response_type": "ephemeral", "text": message.text, "blocks": message.blocks}

    async def answer(self, slack_user: str, cmd: Command, now: datetime) -> Message:
        """The reply to one ``/spm`` command from ``slack_user``."""
        person = self.person_of(slack_user)
        if person is None:
            return self._text(None, "unknown_user", user=slack_user)
        if cmd.verb == "help":
            return self._render("spm_text", person, {"a": {"label": "help", "title": "help_title"}})
        if cmd.verb == "unknown":
            return self._text(person, "bad_command", text=cmd.text.strip())
        targets = self.targets.current()
        if cmd.verb == "team":
            if not self.directory.reports_of(person):
                return self._text(person, "not_a_manager")
            team = await team_dashboard(self.store, self.directory, targets, person, now)
            return self._render("spm_team", person, {"a": team})
        if cmd.verb == "board":
            return await self._board(person, cmd, now)
        mine = await rep_dashboard(self.store, self.directory, targets, person, now)
        return self._render("spm_me", person, {"a": mine, "home": False, "updated": None})

    async def _board(self, person: str, cmd: Command, now: datetime) -> Message:
        if cmd.error is not None:
            return self._text(person, "bad_board", error=cmd.error)
        team = self.directory.team_of(person)
        scope, scope_id = ("team", team) if team else ("org", ORG)
        routing = Routing.from_directory(self.directory)
        today = routing.today(scope, scope_id)
        try:
            how = rank_by_of(cmd.rank_by)
            q = BoardQuery(scope, scope_id, cmd.metric, cmd.period, today, rank_by=how).check()
            ctx = BoardContext(self.directory, self.targets.current())
            period, rows = await board_rows(self.store, routing, q, ctx)
        except ValueError as exc:
            return self._text(person, "bad_board", error=str(exc))
        privacy = self.directory.privacy
        shown = shared_rows(rows, privacy)
        # Only the asker reads this answer: their own place may follow the top.
        shown += [r for r in own_rows(rows, person, privacy) if r not in shown]
        locale = self.directory.locale_of(person)
        t = labels(locale, self.templates_dir)
        return board_message(
            shown,
            directory=self.directory,
            team_id=team or t.get("leaderboard", "org"),
            metric=cmd.metric,
            period_label=period_text(t, cmd.period, period.first, period.last),
            updated=now.astimezone(self.directory.zone_of(person)).strftime("%H:%M:%S"),
            locale=locale,
            rank_by=how,
        )

    async def _reply_later(self, reply: Awaitable[Message], response_url: str) -> None:
        message = await reply
        await self.respond(response_url, message)

    # -- response_url ------------------------------------------------------------------

    async def respond(self, response_url: str, message: Message, *, replace: bool = False) -> bool:
        """Post an ephemeral message to a ``response_url`` Slack gave us; False if refused."""
        if not response_url.startswith(self.response_hosts):
            # Only Slack's own hooks: a forged payload must not make us POST anywhere.
            log.warning("response_url refused: %s", urlsplit(response_url).netloc)
            return False
        payload = {
            "response_type": "ephemeral",
            "replace_original": replace,
            "text": message.text,
            "blocks": message.blocks,
        }
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.post(response_url, json=payload) as answered,
            ):
                return answered.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("response_url unreachable: %r", exc)
            return False

    def _background(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # held until done: a dropped task may be collected mid-flight
        task.add_done_callback(self._tasks.discard)

    # -- Events API --------------------------------------------------------------------

    async def event(self, body: bytes, headers: Mapping[str, str], now: datetime) -> Answer:
        """An Events API callback: the URL check, and ``app_home_opened``, each handled once."""
        if (why := await self._verified(body, headers, now)) is not None:
            return 401, {"error": why}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "expected a JSON body"}
        if payload.get("type") == "url_verification":
            return 200, {"challenge": str(payload.get("challenge", ""))}
        retry = {k.lower(): v for k, v in headers.items()}.get("x-slack-retry-num")
        return 200, await self.on_event(payload, now, retry)

    async def on_event(
        self, payload: Mapping[str, Any], now: datetime, retry: str | None = None
    ) -> dict[str, Any]:
        """A verified ``event_callback``, handled once by its event id (Slack retries)."""
        event_id = str(payload.get("event_id", ""))
        first = await self.state.replays.first_time(f"event:{event_id}", EVENT_MEMORY_S)
        if not first:
            log.info("event %s already handled (retry %s): acknowledged", event_id, retry)
            return {"ok": True, "duplicate": True}
        event = payload.get("event") or {}
        if event.get("type") == "app_home_opened" and event.get("tab", "home") == "home":
            user = str(event.get("user", ""))
            self._background(self.open_home(user, now))
        return {"ok": True}

    # -- App Home ----------------------------------------------------------------------

    async def open_home(self, slack_user: str, now: datetime) -> str:
        """A user opened their Home tab: keep it current from now on, and publish it."""
        await self.homes.opened(slack_user)
        return await self.publish_home(slack_user, now)

    async def publish_home(self, slack_user: str, now: datetime) -> str:
        """Publish a user's Home view if it changed and a minute passed since the last."""
        if self.client is None:
            return "no-client"
        person = self.person_of(slack_user)
        data: Any
        if person is None:
            message, data = self._text(None, "unknown_user", user=slack_user), slack_user
        else:
            targets = self.targets.current()
            data = await rep_dashboard(self.store, self.directory, targets, person, now)
            shown = now.astimezone(self.directory.zone_of(person)).strftime("%H:%M")
            message = self._render("spm_me", person, {"a": data, "home": True, "updated": shown})
        new = home.digest([data, self.directory.locale_of(person) if person else ""])
        last_at, last_digest = await self.homes.last(slack_user)
        decision = home.due(last_at, last_digest, new, now.timestamp())
        if decision != "publish":
            return decision
        try:
            await self.client.views_publish(user_id=slack_user, view=home.as_view(message))
        except SlackApiError as exc:
            log.warning("views.publish for %s: %s", slack_user, exc.response.get("error"))
            return "failed"
        await self.homes.published(slack_user, now.timestamp(), new)
        return "published"

    async def refresh_homes(self, now: datetime) -> dict[str, int]:
        """The leader's round: every opened Home tab whose numbers changed, at most once a
        minute each."""
        done: dict[str, int] = {}
        for user in await self.homes.users():
            outcome = await self.publish_home(user, now)
            done[outcome] = done.get(outcome, 0) + 1
        return done

    # -- interactivity -----------------------------------------------------------------

    async def interaction(self, body: bytes, headers: Mapping[str, str], now: datetime) -> Answer:
        """A button click: verified, done once, confirmed to the person who clicked."""
        if (why := await self._verified(body, headers, now)) is not None:
            return 401, {"error": why}
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
        except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError):
            return 400, {"error": "expected a block_actions payload"}
        return await self.on_click(payload, now)

    async def on_click(self, payload: Mapping[str, Any], now: datetime) -> Answer:
        """A verified ``block_actions``: done once, confirmed to the person who clicked."""
        try:
            action = payload["actions"][0]
            user = str(payload["user"]["id"])
        except (KeyError, IndexError, TypeError):
            return 400, {"error": "expected a block_actions payload"}
        done = await click(
            action, user, state=self.state, store=self.store, directory=self.directory, now=now
        )
        person = self.person_of(user)
        values = {k: _shown_time(v, self.directory, person) for k, v in done.values.items()}
        confirmation = self._text(person, done.label, **values)
        if response_url := str(payload.get("response_url") or ""):
            self._background(self.respond(response_url, confirmation))
        elif (payload.get("view") or {}).get("type") == "home" and self.client is not None:
            # A Home tab has no response_url: the confirmation goes to the app's DM, and the
            # tab follows within a minute (the once-a-minute rule holds for clicks too).
            self._background(self._confirm_by_dm(user, confirmation, now))
        return done.status, done.body

    async def on_socket(
        self, kind: str, payload: Mapping[str, Any], now: datetime, retry: int | None = None
    ) -> dict[str, Any] | None:
        """A Socket Mode request (authenticated by the socket, no signature): the payload of
        its acknowledgement (a command's reply), after handling it."""
        if kind == "slash_commands":
            return await self.on_command({k: str(v) for k, v in payload.items()}, now)
        if kind == "events_api":
            await self.on_event(payload, now, str(retry) if retry else None)
        elif kind == "interactive":
            await self.on_click(payload, now)
        return None

    async def _confirm_by_dm(self, user: str, confirmation: Message, now: datetime) -> None:
        assert self.client is not None
        try:
            await self.client.chat_postMessage(
                channel=user, text=confirmation.text, blocks=confirmation.blocks
            )
        except SlackApiError as exc:
            log.warning("confirmation to %s: %s", user, exc.response.get("error"))
        await self.publish_home(user, now)


def _shown_time(value: str, directory: Directory, person: str | None) -> str:
    """An ISO time of a confirmation on the person's wall clock; other values as they are."""
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return value
    zone = directory.zone_of(person) if person else directory.zone()
    return local_time(value, zone.key)


#: A request URL handler of the worker: (body, headers, now) -> (status, JSON).
Handler = Callable[[bytes, Mapping[str, str], datetime], Awaitable[Answer]]
