"""Pipedrive: webhooks v1 (``current``/``previous``) and v2 (``data``/``previous``).

Authentication is the HTTP basic auth set on the webhook. Deals count when
their status becomes won or lost (or a mapped stage is entered), and when
added (``opportunity.created``); activities by their type: calls and e-mails
when marked done, meetings when added (booked), moved (rescheduled) and done
(held). The owner is ``owner_id`` (v2) or ``user_id`` (v1).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from spm_stream.contract.events import EventType
from spm_stream.crm.mapping import PipedriveMapping
from spm_stream.crm.model import (
    NOT_JSON,
    BadPayload,
    Mapped,
    canonical,
    deal_money,
    instant,
    text,
)

__all__ = ["map_pipedrive"]

_ACTIONS = {"added": "create", "updated": "change", "deleted": "delete", "merged": "delete"}


def map_pipedrive(body: bytes, mapping: PipedriveMapping, received: datetime) -> Mapped:
    """Map one Pipedrive webhook body (v1 or v2) to canonical events."""
    out = Mapped()
    if (payload := out.parse(body)) is NOT_JSON:
        return out
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        out.reject(payload, "meta", "expected an object")
        return out
    try:
        _webhook(payload, mapping, received, out)
    except BadPayload as exc:
        out.reject(payload, exc.field, exc.reason)
    return out.or_ignored()


def _webhook(
    payload: Mapping[str, Any], m: PipedriveMapping, received: datetime, out: Mapped
) -> None:
    meta = payload["meta"]
    v2 = str(meta.get("version", "")).startswith("2")
    entity = text(meta.get("entity") if v2 else meta.get("object")) or ""
    action = text(meta.get("action")) or ""
    action = _ACTIONS.get(action, action)
    current = payload.get("data" if v2 else "current")
    before = payload.get("previous")
    previous = before if isinstance(before, dict) else {}
    where = "data" if v2 else "current"
    if action == "delete" or entity not in ("deal", "activity"):
        return
    if not isinstance(current, dict):
        raise BadPayload(where, "expected an object")
    object_id = text(current.get("id") or meta.get("entity_id") or meta.get("id"))
    if object_id is None:
        raise BadPayload(f"{where}.id", "missing object id")
    owner_field = "owner_id" if "owner_id" in current else "user_id"
    owner = current.get(owner_field)
    owner_id = text(owner.get("id") if isinstance(owner, dict) else owner)
    rep = m.owner(owner_id)
    if rep is None:
        reason = f"user {owner_id!r} is not in crm.pipedrive.owners" if owner_id else "no owner"
        raise BadPayload(f"{where}.{owner_field}", reason)
    fallback = meta.get("timestamp") or received.isoformat()

    def when(*names: str) -> datetime:
        value = next((current[n] for n in names if current.get(n)), fallback)
        return instant(value, f"{where}.{names[0]}")

    def emit(key: str, etype: str, at: datetime, extra: dict[str, Any] | None = None) -> None:
        out.add(canonical("pipedrive", key, etype, at, rep, extra), payload)

    if entity == "deal":
        _deal(object_id, current, previous, action, m, when, emit)
    else:
        _activity(object_id, current, previous, action, m, when, emit)


def _changed(current: Mapping[str, Any], previous: Mapping[str, Any], name: str) -> bool:
    # v2 sends only changed fields in "previous"; v1 the whole previous object.
    return name in previous and previous[name] != current.get(name)


def _deal(
    deal_id: str,
    current: Mapping[str, Any],
    previous: Mapping[str, Any],
    action: str,
    m: PipedriveMapping,
    when: Any,
    emit: Any,
) -> None:
    key = f"deal:{deal_id}"
    money = deal_money(
        deal_id,
        current.get("value"),
        current.get("currency"),
        field="value",
        default_currency=m.default_currency,
    )
    if action == "create":
        emit(key, EventType.OPPORTUNITY_CREATED, when("add_time"), money)
    status = text(current.get("status")) or ""
    etype = m.deal_statuses.get(status)
    if etype is not None and (action == "create" or _changed(current, previous, "status")):
        created = current.get("add_time")
        data = {
            **money,
            "product": text(current.get("product")) or m.default_product,
            "created_at": instant(created, "add_time").isoformat() if created else None,
        }
        closed = "won_time" if status == "won" else "lost_time"
        emit(key, etype, when(closed, "close_time", "update_time"), data)
    stage = text(current.get("stage_id")) or ""
    stype = m.stages.get(stage)
    if stype is not None and (action == "create" or _changed(current, previous, "stage_id")):
        emit(
            f"{key}:stage:{stage}",
            stype,
            when("stage_change_time", "update_time"),
            {"lead_id": deal_id},
        )


def _activity(
    activity_id: str,
    current: Mapping[str, Any],
    previous: Mapping[str, Any],
    action: str,
    m: PipedriveMapping,
    when: Any,
    emit: Any,
) -> None:
    etype = m.activity_types.get(text(current.get("type")) or "")
    if etype is None:
        return
    done = current.get("done") in (True, 1, "1", "true")
    # Counted once: when created done, or when "done" changed to true.
    became_done = done and (action == "create" or _changed(current, previous, "done"))
    key = f"activity:{activity_id}"
    done_at = when("marked_as_done_time", "done_time", "update_time")
    if etype != EventType.MEETING_BOOKED:
        if became_done:
            emit(key, etype, done_at)
        return
    data: dict[str, Any] = {"meeting_id": activity_id}
    if action == "create":
        data |= {"scheduled_for": _due(current).isoformat()}
        lead = text(current.get("lead_id"))
        emit(key, EventType.MEETING_BOOKED, when("add_time"), data | {"lead_id": lead})
    elif not done and (
        _changed(current, previous, "due_date") or _changed(current, previous, "due_time")
    ):
        moved = _due(current)
        emit(
            f"{key}:{int(moved.timestamp())}",
            EventType.MEETING_RESCHEDULED,
            when("update_time"),
            data | {"scheduled_for": moved.isoformat(), "initiated_by": m.reschedule_initiated_by},
        )
    if became_done:
        emit(key, EventType.MEETING_HELD, done_at, {"meeting_id": activity_id})


def _due(activity: Mapping[str, Any]) -> datetime:
    """An activity's due date and time (Pipedrive keeps them in UTC, time optional)."""
    day = text(activity.get("due_date"))
    if day is None:
        raise BadPayload("due_date", "a meeting needs a due date")
    at = text(activity.get("due_time")) or "00:00"
    try:
        return datetime.fromisoformat(f"{day}T{at}").replace(tzinfo=UTC)
    except ValueError:
        raise BadPayload("due_date", f"not a date and time: {day!r} {at!r}") from None
