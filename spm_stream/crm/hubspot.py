"""HubSpot: workflow "Send a webhook" actions, signed with the v3 request signature.

A workflow posts the enrolled record with its properties (HubSpot's "include
all properties" body ``{"objectId", "objectType", "properties": {name: {"value"
…}}}``, or a custom body of plain ``name: value`` pairs). Deals give stage,
forecast and won/lost events; meetings their outcome; calls and e-mails an
activity; contacts their lifecycle stage. The owner is ``hubspot_owner_id``.

Webhook-API subscription batches (``[{"subscriptionType": …}]``) carry neither
owner nor amount, so they are rejected to the dead-letter topic with that
reason rather than counted for the wrong person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from spm_stream.contract.events import EventType
from spm_stream.crm.mapping import HubSpotMapping
from spm_stream.crm.model import (
    NOT_JSON,
    BadPayload,
    Mapped,
    canonical,
    deal_money,
    instant,
    text,
)

__all__ = ["map_hubspot"]

_OBJECT_TYPES = {
    "0-3": "deal",
    "0-1": "contact",
    "0-47": "meeting",
    "0-48": "call",
    "0-49": "email",
    "meeting_event": "meeting",
    "meetings": "meeting",
    "calls": "call",
    "emails": "email",
    "deals": "deal",
    "contacts": "contact",
}

# Properties that give a record's type away when the body does not say it.
_TELLTALES = (
    ("dealstage", "deal"),
    ("hs_meeting_outcome", "meeting"),
    ("hs_call_direction", "call"),
    ("hs_email_direction", "email"),
    ("lifecyclestage", "contact"),
)


def map_hubspot(
    body: bytes, mapping: HubSpotMapping, received: datetime, hint: str | None
) -> Mapped:
    """Map a workflow webhook body (one record or a list of records) to canonical events.

    ``hint`` is the ``object`` query parameter of the webhook URL, for custom
    bodies that name no object type.
    """
    out = Mapped()
    if (payload := out.parse(body)) is NOT_JSON:
        return out
    records = payload if isinstance(payload, list) else [payload]
    for record in records:
        if not isinstance(record, dict):
            out.reject(record, "", "expected a JSON object per record")
        elif "subscriptionType" in record:
            out.reject(
                record,
                "subscriptionType",
                "a webhook-API subscription event has no owner or amount: send deals, "
                "meetings, calls and e-mails from a workflow's Send-a-webhook action",
            )
        else:
            try:
                out.extend(_record(record, mapping, received, hint))
            except BadPayload as exc:
                out.reject(record, exc.field, exc.reason)
    return out


def _properties(record: Mapping[str, Any]) -> dict[str, Any]:
    raw = record.get("properties", record)
    if not isinstance(raw, dict):
        raise BadPayload("properties", "expected an object")
    # "Include all properties" wraps each value: {"value": …, "timestamp": …, "versions": […]}.
    return {k: (v.get("value") if isinstance(v, dict) else v) for k, v in raw.items()}


def _object_type(record: Mapping[str, Any], props: Mapping[str, Any], hint: str | None) -> str:
    given = text(record.get("objectType") or record.get("objectTypeId") or hint)
    if given is not None:
        kind = given.lower()
        return _OBJECT_TYPES.get(kind, kind)
    return next((kind for prop, kind in _TELLTALES if props.get(prop) is not None), "")


def _record(
    record: Mapping[str, Any], mapping: HubSpotMapping, received: datetime, hint: str | None
) -> Mapped:
    props = _properties(record)
    kind = _object_type(record, props, hint)
    object_id = text(record.get("objectId") or props.get("hs_object_id"))
    handler = _HANDLERS.get(kind)
    out = Mapped()
    if handler is None:
        return out.or_ignored()
    if object_id is None:
        raise BadPayload("objectId", "missing record id")
    owner_id = text(props.get("hubspot_owner_id"))
    rep = mapping.owner(owner_id)
    if rep is None:
        raise BadPayload(
            "properties.hubspot_owner_id",
            f"owner {owner_id!r} is not in crm.hubspot.owners"
            if owner_id
            else "no owner on the record",
        )

    def when(*names: str) -> datetime:
        value = next((props[n] for n in names if props.get(n) not in (None, "")), None)
        return instant(value, f"properties.{names[0]}") if value is not None else received

    def emit(key: str, etype: str, at: datetime, data: dict[str, Any] | None = None) -> None:
        out.add(canonical("hubspot", key, etype, at, rep, data), record)

    handler(object_id, props, mapping, when, emit)
    return out.or_ignored()


_Emit = Callable[..., None]
_When = Callable[..., datetime]


def _deal(
    deal_id: str, props: Mapping[str, Any], m: HubSpotMapping, when: _When, emit: _Emit
) -> None:
    stage = text(props.get("dealstage"))
    forecast = text(props.get("hs_manual_forecast_category"))
    etype = m.deal_stages.get(stage) if stage else None
    key = f"deal:{deal_id}"
    money = deal_money(
        deal_id,
        props.get("amount"),
        props.get("deal_currency_code"),
        field="properties.amount",
        default_currency=m.default_currency,
    )
    created = props.get("createdate")
    created_at = instant(created, "properties.createdate").isoformat() if created else None
    if etype in (EventType.DEAL_WON, EventType.DEAL_LOST):
        product = text(props.get("product")) or m.default_product
        data = {**money, "product": product, "created_at": created_at}
        emit(key, etype, when("closedate", "hs_lastmodifieddate"), data)
    elif etype in (EventType.QUOTE_SUBMITTED, EventType.QUOTE_ACCEPTED):
        emit(
            key,
            etype,
            when(f"hs_date_entered_{stage}", "hs_lastmodifieddate"),
            {"quote_id": deal_id, "amount": money["amount"], "currency": money["currency"]},
        )
    elif etype == EventType.OPPORTUNITY_CREATED:
        emit(key, etype, when("createdate"), money)
    elif etype is not None:
        emit(
            key,
            etype,
            when(f"hs_date_entered_{stage}", "hs_lastmodifieddate"),
            {"lead_id": deal_id},
        )
    fetype = m.forecast_categories.get(forecast) if forecast else None
    if fetype is not None:
        emit(key, fetype, when("hs_lastmodifieddate"), {"lead_id": deal_id})


def _meeting(
    meeting_id: str,
    props: Mapping[str, Any],
    m: HubSpotMapping,
    when: _When,
    emit: _Emit,
) -> None:
    outcome = text(props.get("hs_meeting_outcome"))
    etype = m.meeting_outcomes.get(outcome) if outcome else None
    if etype is None:
        return
    key = f"meeting:{meeting_id}"
    start = props.get("hs_meeting_start_time") or props.get("hs_timestamp")
    data: dict[str, Any] = {"meeting_id": meeting_id}
    if etype == EventType.MEETING_BOOKED:
        data["scheduled_for"] = instant(start, "properties.hs_meeting_start_time").isoformat()
        emit(key, etype, when("hs_createdate", "hs_lastmodifieddate"), data)
    elif etype == EventType.MEETING_RESCHEDULED:
        moved = instant(start, "properties.hs_meeting_start_time")
        data |= {"scheduled_for": moved.isoformat(), "initiated_by": m.reschedule_initiated_by}
        # Each move is its own event: the new start time is part of its identity.
        emit(f"{key}:{int(moved.timestamp())}", etype, when("hs_lastmodifieddate"), data)
    else:
        emit(key, etype, when("hs_meeting_start_time", "hs_timestamp", "hs_lastmodifieddate"), data)


def _call(
    call_id: str, props: Mapping[str, Any], m: HubSpotMapping, when: _When, emit: _Emit
) -> None:
    if text(props.get("hs_call_direction")) not in (None, "OUTBOUND"):
        return  # inbound calls are not outbound activity
    at = when("hs_timestamp", "hs_createdate")
    emit(f"call:{call_id}", EventType.ACTIVITY_CALL, at)
    disposition = text(props.get("hs_call_disposition"))
    extra = m.call_outcomes.get(disposition) if disposition else None
    if extra is not None:
        emit(f"call:{call_id}", extra, at)


def _email(
    email_id: str,
    props: Mapping[str, Any],
    m: HubSpotMapping,
    when: _When,
    emit: _Emit,
) -> None:
    if text(props.get("hs_email_direction")) not in (None, "EMAIL"):
        return  # incoming and forwarded mail is not outbound activity
    emit(f"email:{email_id}", EventType.ACTIVITY_EMAIL, when("hs_timestamp", "hs_createdate"))


def _contact(
    contact_id: str,
    props: Mapping[str, Any],
    m: HubSpotMapping,
    when: _When,
    emit: _Emit,
) -> None:
    stage = text(props.get("lifecyclestage"))
    etype = m.lifecycle_stages.get(stage) if stage else None
    if etype is None:
        return
    at = when(f"hs_lifecyclestage_{stage}_date", "lastmodifieddate", "hs_lastmodifieddate")
    emit(f"contact:{contact_id}", etype, at, {"lead_id": contact_id})


_HANDLERS: dict[str, Callable[..., None]] = {
    "deal": _deal,
    "meeting": _meeting,
    "call": _call,
    "email": _email,
    "contact": _contact,
}
