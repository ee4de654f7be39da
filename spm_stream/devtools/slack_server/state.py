"""What the local Slack server holds: messages, views, calls, faults, and the app it serves."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

__all__ = ["STATE", "Fault", "SlackState", "StoredMessage"]


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
    metadata: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
            "edits": self.edits,
            "posted_at": self.posted_at,
            "files": self.files,
            "metadata": self.metadata,
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
    #: Do the call (the message is posted), then answer only after ``delay_s``: the
    #: client's timeout loses the answer, as a connection dropped after the send would.
    lost_answer: bool = False


@dataclass
class SlackState:
    """Everything the server received: messages, views, calls and queued faults; and the
    app it plays Slack for (``app_url``, ``signing_secret``: commands, events, clicks)."""

    token: str | None = None
    app_url: str | None = None
    signing_secret: str | None = None
    people: dict[str, str] = field(default_factory=dict)  # Slack user id -> name, for the page
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # user -> Home view
    #: What the app answered people privately: command replies and response_url posts.
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    responders: dict[str, str] = field(default_factory=dict)  # response_url id -> user
    dm_users: dict[str, str] = field(default_factory=dict)  # DM channel id -> user id
    #: chat.update calls of the last minute, per workspace (a token is one workspace here).
    updates: dict[str, collections.deque[float]] = field(default_factory=dict)
    #: Socket Mode: the app's open connections, and the acknowledgements awaited on them.
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    acks: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
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

    def dm_channel(self, user: str) -> str:
        """The DM channel between the app and ``user`` (``conversations.open``'s answer)."""
        cid = "D" + hashlib.sha1(user.encode()).hexdigest()[:9].upper()
        self.dm_users[cid] = user
        return cid

    def conversation(self, channel: str) -> str:
        """Where messages to ``channel`` are kept: a DM's user id, a #name's id, or itself."""
        return self.dm_users.get(channel, self.channel_id(channel))

    def take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method in (method, "*") and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None


STATE: Final = web.AppKey("state", SlackState)
