"""What every CRM adapter shares: the request it verifies, what mapping produces, field readers.

Pure: an adapter turns a verified request body into canonical events (checked
against the contract with ``parse_event``) and rejects with the field and the
reason, bound for the dead-letter topic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from spm_stream.contract.events import InvalidEvent, parse_event

__all__ = [
    "NOT_JSON",
    "BadPayload",
    "Mapped",
    "Rejected",
    "Unauthorized",
    "WebhookRequest",
    "amount",
    "canonical",
    "closed_at",
    "deal_money",
    "instant",
    "text",
]


#: What ``Mapped.parse`` returns for a body that is not JSON (``None`` is valid JSON).
NOT_JSON: Any = object()


class Unauthorized(Exception):
    """The request is not from the CRM: missing or forged signature, stale timestamp."""


class BadPayload(ValueError):
    """A field of a CRM payload cannot be read; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An HTTP request as the CRM sent it: ``url`` is the URL the CRM called (it is signed)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A part of a payload that could not become a valid event, and why."""

    payload: bytes
    field: str
    reason: str


@dataclass
class Mapped:
    """The outcome of mapping one request: valid events (JSON bytes keyed by rep), rejects."""

    events: list[tuple[bytes, bytes]] = field(default_factory=list)
    rejects: list[Rejected] = field(default_factory=list)
    ignored: int = 0

    def add(self, event: dict[str, Any], origin: Any) -> None:
        """Validate ``event`` against the contract; a violation rejects ``origin`` instead."""
        raw = orjson.dumps(event)
        try:
            parsed = parse_event(raw)
        except InvalidEvent as exc:
            self.reject(origin, exc.field, exc.reason)
            return
        self.events.append((parsed.rep_id.encode(), raw))

    def reject(self, origin: Any, field: str, reason: str) -> None:
        """Send ``origin`` (the CRM's own object) to the dead-letter topic with the reason."""
        payload = origin if isinstance(origin, bytes) else orjson.dumps(origin, default=str)
        self.rejects.append(Rejected(payload, field, reason))

    def parse(self, body: bytes) -> Any:
        """The body as JSON, or ``NOT_JSON`` after rejecting it with the parser's reason."""
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.reject(body, "", f"malformed JSON: {exc}")
            return NOT_JSON

    def or_ignored(self) -> Mapped:
        """This outcome, with the record counted as ignored if it gave no event and no reject."""
        if not self.events and not self.rejects:
            self.ignored += 1
        return self

    def extend(self, other: Mapped) -> None:
        """Add another mapping's outcome to this one."""
        self.events += other.events
        self.rejects += other.rejects
        self.ignored += other.ignored


def canonical(
    crm: str,
    key: str,
    etype: str,
    at: datetime,
    rep: tuple[str, str | None],
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A canonical event whose id is stable across the CRM's retries: ``crm:key:type``."""
    rep_id, team_id = rep
    event: dict[str, Any] = {
        "event_id": f"{crm}:{key}:{etype}",
        "type": etype,
        "occurred_at": at.isoformat(),
        "rep_id": rep_id,
        "source": crm,
    }
    if team_id is not None:
        event["team_id"] = team_id
    if data:
        event["data"] = {k: v for k, v in data.items() if v is not None}
    return event


def instant(value: Any, field: str) -> datetime:
    """A CRM timestamp: epoch milliseconds or seconds, or ISO-8601; naive means UTC.

    All four CRMs send UTC; HubSpot uses epoch milliseconds, Close naive ISO
    for its event log, Pipedrive v1 "YYYY-MM-DD HH:MM:SS".
    """
    if isinstance(value, bool) or value is None or value == "":
        raise BadPayload(field, "missing timestamp")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        if len(value.strip()) > 20:  # epoch ms of year 9999 has 15 digits; int() refuses 4,301
            raise BadPayload(field, f"timestamp out of range: {value[:40]!r}")
        value = int(value)
    if isinstance(value, int | float):
        if isinstance(value, int) and abs(value) > 10**20:
            raise BadPayload(field, f"timestamp out of range: {str(value)[:40]!r}")
        if not math.isfinite(value):
            raise BadPayload(field, f"not a timestamp: {value!r}")
        try:
            # A 400-digit integer overflows the division itself: inside the try too.
            seconds = value / 1000 if abs(value) >= 10**11 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise BadPayload(field, f"timestamp out of range: {str(value)[:40]!r}") from None
    if not isinstance(value, str):
        raise BadPayload(field, f"not a timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise BadPayload(field, f"not an ISO-8601 timestamp: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def amount(value: Any, field: str, *, cents: bool = False) -> float | None:
    """A money amount from a number or numeric string (None when absent)."""
    if value is None or value == "":
        return None
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        raise BadPayload(field, f"not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise BadPayload(field, f"not a non-negative amount: {value!r}")
    return number / 100 if cents else number


def deal_money(
    deal_id: str,
    value: Any,
    currency: Any,
    *,
    field: str,
    default_currency: str,
    cents: bool = False,
) -> dict[str, Any]:
    """The ``deal_id``, ``amount`` and ``currency`` every deal event carries; ``field`` names
    the amount in the CRM's payload for errors, and the mapping's currency fills a gap."""
    return {
        "deal_id": deal_id,
        "amount": amount(value, field, cents=cents),
        "currency": text(currency) or default_currency,
    }


def text(value: Any) -> str | None:
    """An id or label as text (CRMs send ids as numbers or strings); None when empty."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    out = str(value).strip()
    return out or None


def closed_at(day: Any, updated: datetime, field: str) -> datetime:
    """When a deal closed, from a close date CRMs keep as a bare date (Close, Salesforce).

    The update's time when it happened on that day, else the (back-dated) day itself.
    """
    if day in (None, ""):
        return updated
    closed = instant(day, field)
    return updated if updated.date() == closed.date() else closed
