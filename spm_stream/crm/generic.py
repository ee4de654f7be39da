"""The generic endpoint: canonical events (DESIGN.md §3) from any integration, with a token.

The body is one event, a JSON array of events, or JSON Lines. Each event is
checked against the contract on its own; a bad one is rejected with its field
and reason while the others go through.
"""

from __future__ import annotations

import orjson

from spm_stream.crm.model import BadPayload, Mapped, Rejected
from spm_stream.events import InvalidEvent, parse_event

__all__ = ["map_canonical"]


def map_canonical(body: bytes) -> Mapped:
    """Split and validate a body of canonical events; ``BadPayload`` if it is not JSON at all."""
    out = Mapped()
    for raw in _split(body):
        try:
            event = parse_event(raw)
        except InvalidEvent as exc:
            out.rejects.append(Rejected(raw, exc.field, exc.reason))
            continue
        out.events.append((event.rep_id.encode(), raw))
    return out


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
        return lines  # JSON Lines: a malformed line is rejected on its own
    if isinstance(whole, list):
        return [orjson.dumps(item) for item in whole]
    return [stripped]
