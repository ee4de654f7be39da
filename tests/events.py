"""Builders of canonical events for tests."""

from __future__ import annotations

import json
from typing import Any


def event(
    event_id: str,
    etype: str = "activity.call",
    rep: str = "rep-1",
    at: str = "2026-11-02T10:00:00Z",
    team: str | None = None,
    **data: Any,
) -> bytes:
    """One canonical event as JSON bytes."""
    body: dict[str, Any] = {"event_id": event_id, "type": etype, "occurred_at": at, "rep_id": rep}
    if team is not None:
        body["team_id"] = team
    if data:
        body["data"] = data
    return json.dumps(body).encode()


BAD_RECORDS: list[tuple[bytes, str]] = [
    (b'{"event_id": "bad-1", "type": "activity.call"', "malformed JSON"),
    (
        b'{"event_id": "bad-2", "type": "activity.call", "occurred_at": "2026-11-02T10:00:00Z"}',
        "rep_id: Field required",
    ),
    (event("bad-3", "activity.teleport"), "type: unknown event type 'activity.teleport'"),
    (event("bad-4", at="2026-11-02T10:00:00"), "occurred_at: timestamp needs a UTC offset"),
    (
        b'{"event_id": "bad-5", "type": "activity.call", "occurred_at": "2026-11-02T10:00:00Z",'
        b' "rep_id": 42}',
        "rep_id: Input should be a valid string",
    ),
    (
        event("bad-6", "deal.won", deal_id="d", amount=-3, currency="USD", product="p"),
        "data.amount: Input should be greater than or equal to 0",
    ),
]
