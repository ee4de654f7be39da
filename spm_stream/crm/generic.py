"""The generic endpoint: canonical events from any integration, with a token.

The body is one event, a JSON array of events, or JSON Lines. Each event is
checked against the contract and against the people directory on its own; a
bad one is rejected with its field and reason while the others go through. A
body of more than ``MAX_EVENTS`` is refused whole, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Final, TypeVar

import orjson

from spm_stream.contract.events import Event, InvalidEvent, parse_event
from spm_stream.crm.model import BadPayload, Mapped, Rejected

__all__ = ["MAX_EVENTS", "Roster", "add_canonical", "map_canonical"]

_T = TypeVar("_T")

#: Events one request may carry. Past it the request is refused whole (all or nothing),
#: so a huge array neither holds the event loop nor half-lands before a 503 and a retry.
MAX_EVENTS: Final = 1000


@dataclass(frozen=True)
class Roster:
    """The reps and teams of the people directory; an empty side checks nothing (a
    deployment without a people file counts whoever its CRM names)."""

    reps: Collection[str] = field(default_factory=frozenset)
    teams: Collection[str] = field(default_factory=frozenset)

    def unknown(self, event: Event) -> tuple[str, str] | None:
        """(field, reason) when the event names a rep or team the directory does not know."""
        if self.reps and event.rep_id not in self.reps:
            return "rep_id", f"unknown rep {event.rep_id!r}: add it to people in SPM_CONFIG"
        if self.teams and event.team_id is not None and event.team_id not in self.teams:
            return "team_id", f"unknown team {event.team_id!r}: add it to teams in SPM_CONFIG"
        return None


def map_canonical(body: bytes, roster: Roster | None = None) -> Mapped:
    """Split and validate a body of canonical events; ``BadPayload`` if it is not JSON at all
    or carries more than ``MAX_EVENTS``."""
    out = Mapped()
    for raw in _split(body):
        add_canonical(out, raw, roster)
    return out


def add_canonical(out: Mapped, raw: bytes, roster: Roster | None) -> None:
    """Validate one canonical event into ``out``: an event, or a reject with its reason."""
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        out.rejects.append(Rejected(raw, exc.field, exc.reason))
        return
    if roster is not None and (unknown := roster.unknown(event)) is not None:
        out.rejects.append(Rejected(raw, *unknown))
        return
    out.events.append((event.rep_id.encode(), raw))


def _split(body: bytes) -> list[bytes]:
    stripped = body.strip()
    if not stripped:
        raise BadPayload("", "empty body")
    try:
        whole = orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        lines = [line.strip() for line in stripped.splitlines() if line.strip()]
        if len(lines) == 1:
            raise BadPayload("", f"malformed JSON: {exc}") from None
        return _at_most(lines)  # JSON Lines: a malformed line is rejected on its own
    if isinstance(whole, list):
        return [orjson.dumps(item) for item in _at_most(whole)]
    return [stripped]


def _at_most(items: list[_T]) -> list[_T]:
    if len(items) > MAX_EVENTS:
        raise BadPayload(
            "", f"{len(items)} events in one request; send at most {MAX_EVENTS} per request"
        )
    return items
