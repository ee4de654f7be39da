"""Close: webhook subscriptions, signed with ``close-sig-hash`` (see ``signatures``).

Each POST is ``{"subscription_id", "event": {"object_type", "action", "data",
"previous_data", "changed_fields", …}}`` with the full object in ``data``.
Calls and sent e-mails count as activities, meetings by status (a moved start
time is a reschedule), opportunities when won or lost (``value`` is in cents),
lead status changes by their new label. The owner is ``data.user_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from spm_stream.contract.events import EventType
from spm_stream.counting.outcomes import RANKS
from spm_stream.crm.mapping import CloseMapping
from spm_stream.crm.model import (
    NOT_JSON,
    BadPayload,
    Mapped,
    canonical,
    closed_at,
    deal_money,
    instant,
    text,
)

__all__ = ["map_close"]


def map_close(body: bytes, mapping: CloseMapping, received: datetime) -> Mapped:
    """Map one Close webhook body to canonical events."""
    out = Mapped()
    if (payload := out.parse(body)) is NOT_JSON:
        return out
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(event, dict):
        out.reject(payload, "event", "expected an object")
        return out
    try:
        _event(event, mapping, received, out)
    except BadPayload as exc:
        out.reject(payload, f"event.{exc.field}", exc.reason)
    return out.or_ignored()


def _event(event: Mapping[str, Any], m: CloseMapping, received: datetime, out: Mapped) -> None:
    kind = text(event.get("object_type")) or ""
    action = text(event.get("action")) or ""
    data = event.get("data")
    if action == "deleted" or kind not in _KINDS:
        return
    if not isinstance(data, dict):
        raise BadPayload("data", "expected an object")
    object_id = text(data.get("id") or event.get("object_id"))
    if object_id is None:
        raise BadPayload("data.id", "missing object id")
    user = text(data.get("user_id") or event.get("user_id"))
    rep = m.owner(user)
    if rep is None:
        reason = f"user {user!r} is not in crm.close.owners" if user else "no user on the object"
        raise BadPayload("data.user_id", reason)
    fallback = event.get("date_created") or received.isoformat()

    def when(*names: str) -> datetime:
        value = next((data[n] for n in names if data.get(n)), fallback)
        return instant(value, f"data.{names[0]}")

    def emit(key: str, etype: str, at: datetime, extra: dict[str, Any] | None = None) -> None:
        out.add(canonical("close", key, etype, at, rep, extra), {"event": event})

    before = event.get("previous_data")
    previous = before if isinstance(before, dict) else {}
    listed = event.get("changed_fields")
    changed = listed if isinstance(listed, list) else []

    if kind == "activity.call":
        if text(data.get("direction")) not in (None, "outbound"):
            return
        at = when("activity_at", "date_created")
        emit(f"call:{object_id}", EventType.ACTIVITY_CALL, at)
        extra = m.outcomes.get(text(data.get("outcome_id")) or "")
        if extra is not None:
            emit(f"call:{object_id}", extra, at)
    elif kind == "activity.email":
        if text(data.get("direction")) != "outgoing" or text(data.get("status")) != "sent":
            return  # drafts, scheduled and incoming mail are not sent activity
        emit(f"email:{object_id}", EventType.ACTIVITY_EMAIL, when("date_sent", "date_created"))
    elif kind == "activity.meeting":
        _meeting(object_id, data, previous, changed, m, when, emit)
    elif kind == "opportunity":
        _opportunity(object_id, data, action, m, when, emit)
    else:  # activity.lead_status_change
        etype = m.lead_statuses.get(text(data.get("new_status_label")) or "")
        lead_id = text(data.get("lead_id") or event.get("lead_id"))
        if etype is None or lead_id is None:
            return
        emit(f"lead:{lead_id}", etype, when("date_created"), {"lead_id": lead_id})


def _meeting(
    meeting_id: str,
    data: Mapping[str, Any],
    previous: Mapping[str, Any],
    changed: Any,
    m: CloseMapping,
    when: Any,
    emit: Any,
) -> None:
    status = text(data.get("status")) or ""
    starts = data.get("starts_at")
    key = f"meeting:{meeting_id}"
    moved = "starts_at" in changed and previous.get("starts_at") not in (None, starts)
    etype = m.meeting_statuses.get(status)
    extra = m.outcomes.get(text(data.get("outcome_id")) or "")
    if extra in RANKS and (etype is None or etype in RANKS):
        # The outcome the rep set wins over the status: Close marks every meeting
        # "completed" once its time is over, no-shows too (spm_stream.counting.outcomes).
        emit(key, extra, when("starts_at", "date_updated"), {"meeting_id": meeting_id})
        return
    if etype == EventType.MEETING_BOOKED and moved:
        new_start = instant(starts, "data.starts_at")
        emit(
            f"{key}:{int(new_start.timestamp())}",
            EventType.MEETING_RESCHEDULED,
            when("date_updated"),
            {
                "meeting_id": meeting_id,
                "scheduled_for": new_start.isoformat(),
                "initiated_by": m.reschedule_initiated_by,
            },
        )
    elif etype == EventType.MEETING_BOOKED:
        scheduled = instant(starts, "data.starts_at").isoformat()
        lead = text(data.get("lead_id"))
        emit(
            key,
            etype,
            when("date_created"),
            {"meeting_id": meeting_id, "scheduled_for": scheduled, "lead_id": lead},
        )
    elif etype is not None:
        emit(key, etype, when("starts_at", "date_updated"), {"meeting_id": meeting_id})
    if extra is not None:
        emit(key, extra, when("starts_at", "date_updated"), {"meeting_id": meeting_id})


def _opportunity(
    deal_id: str,
    data: Mapping[str, Any],
    action: str,
    m: CloseMapping,
    when: Any,
    emit: Any,
) -> None:
    status_type = text(data.get("status_type")) or ""
    etype = m.opportunity_statuses.get(status_type) or m.opportunity_statuses.get(
        text(data.get("status_label")) or ""
    )
    key = f"opportunity:{deal_id}"
    money = deal_money(
        deal_id,
        data.get("value"),
        data.get("value_currency"),
        field="data.value",
        default_currency=m.default_currency,
        cents=True,
    )
    created = data.get("date_created")
    created_at = instant(created, "data.date_created").isoformat() if created else None
    if etype in (EventType.DEAL_WON, EventType.DEAL_LOST):
        product = text(data.get("product")) or m.default_product
        closed = "date_won" if etype == EventType.DEAL_WON else "date_lost"
        at = closed_at(data.get(closed), when("date_updated"), f"data.{closed}")
        emit(key, etype, at, {**money, "product": product, "created_at": created_at})
    elif etype is not None:
        emit(key, etype, when("date_updated"), {"lead_id": deal_id, **money})
    elif action == "created" and status_type == "active":
        emit(key, EventType.OPPORTUNITY_CREATED, when("date_created"), money)


_KINDS = frozenset(
    {
        "activity.call",
        "activity.email",
        "activity.meeting",
        "opportunity",
        "activity.lead_status_change",
    }
)
