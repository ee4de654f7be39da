"""Salesforce: workflow/flow outbound messages (SOAP), with a shared secret and the org id.

Outbound messages cannot sign or set headers, so the endpoint URL carries a
token (``?token=…``, or the ``X-SPM-Token`` header from a proxy) and the
message's ``OrganizationId`` must be the configured org. A message holds up to
100 notifications of one sObject type: Opportunity (stage, forecast category),
Lead (status), Task (completed calls and e-mails) and Event (meetings). The
owner is ``OwnerId``. Salesforce wants a SOAP ``<Ack>true</Ack>`` back, or it
retries for 24 hours.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from spm_stream.contract.events import EventType
from spm_stream.crm.mapping import SalesforceMapping
from spm_stream.crm.model import (
    BadPayload,
    Mapped,
    Unauthorized,
    canonical,
    closed_at,
    deal_money,
    instant,
    text,
)

__all__ = ["ACK", "map_salesforce", "map_salesforce_record"]

_OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

ACK: Final = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>"
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse>"
    b"</soapenv:Body></soapenv:Envelope>"
)


def map_salesforce(body: bytes, mapping: SalesforceMapping, received: datetime) -> Mapped:
    """Map an outbound message; a message from another org raises ``Unauthorized``."""
    out = Mapped()
    # SOAP forbids a DTD. defusedxml refuses one in any encoding the parser reads
    # (a byte search missed a UTF-16 body), which closes entity-expansion tricks.
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        out.reject(body, "", "a DTD is not allowed in a SOAP message")
        return out
    except ET.ParseError as exc:
        out.reject(body, "", f"malformed XML: {exc}")
        return out
    message = root.find(f".//{_OUTBOUND}notifications")
    if message is None:
        out.reject(body, "notifications", "not a Salesforce outbound message")
        return out
    org = (message.findtext(f"{_OUTBOUND}OrganizationId") or "").strip()
    expected = mapping.organization_id
    if expected is not None and org[:15] != expected[:15]:
        raise Unauthorized(f"outbound message from org {org!r}, expected {expected!r}")
    for notification in message.findall(f"{_OUTBOUND}Notification"):
        sobject = notification.find(f"{_OUTBOUND}sObject")
        if sobject is None:
            out.reject(ET.tostring(notification), "sObject", "missing")
            continue
        record = {_local(child.tag): (child.text or "").strip() for child in sobject}
        record["type"] = sobject.get(_XSI_TYPE, "").partition(":")[2]
        out.extend(map_salesforce_record(record, mapping, received))
    return out


def map_salesforce_record(record: Any, mapping: SalesforceMapping, received: datetime) -> Mapped:
    """Map one sObject, as the flat JSON object its dead letter keeps (``type`` = sObject type)."""
    if not isinstance(record, dict) or not all(isinstance(v, str) for v in record.values()):
        out = Mapped()
        out.reject(record, "", "expected an object of sObject fields")
        return out
    try:
        return _record(record, mapping, received)
    except BadPayload as exc:
        out = Mapped()
        out.reject(record, exc.field, exc.reason)
        return out


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _record(record: Mapping[str, str], m: SalesforceMapping, received: datetime) -> Mapped:
    out = Mapped()
    kind = record.get("type", "")
    handler = _HANDLERS.get(kind)
    if handler is None:
        return out.or_ignored()
    object_id = text(record.get("Id"))
    if object_id is None:
        raise BadPayload("Id", "missing record id")
    owner_id = text(record.get("OwnerId"))
    # Users are 005… ids; Salesforce also sends them 15-character in some orgs.
    rep = m.owner(owner_id) or (m.owner(owner_id[:15]) if owner_id else None)
    if rep is None:
        reason = f"owner {owner_id!r} is not in crm.salesforce.owners" if owner_id else "no OwnerId"
        raise BadPayload("OwnerId", reason)

    def when(*names: str) -> datetime:
        value = next((record[n] for n in names if record.get(n)), None)
        return instant(value, names[0]) if value is not None else received

    def emit(key: str, etype: str, at: datetime, data: dict[str, Any] | None = None) -> None:
        out.add(canonical("salesforce", key, etype, at, rep, data), dict(record))

    handler(object_id, record, m, when, emit)
    return out.or_ignored()


def _opportunity(
    deal_id: str, r: Mapping[str, str], m: SalesforceMapping, when: Any, emit: Any
) -> None:
    key = f"opportunity:{deal_id}"
    money = deal_money(
        deal_id,
        r.get("Amount"),
        r.get("CurrencyIsoCode"),
        field="Amount",
        default_currency=m.default_currency,
    )
    stage = r.get("StageName", "")
    etype = m.stages.get(stage)
    if etype in (EventType.DEAL_WON, EventType.DEAL_LOST):
        created = r.get("CreatedDate")
        data = {
            **money,
            "product": text(r.get("Product__c")) or text(r.get("Type")) or m.default_product,
            "created_at": instant(created, "CreatedDate").isoformat() if created else None,
        }
        emit(key, etype, closed_at(r.get("CloseDate"), when("LastModifiedDate"), "CloseDate"), data)
    elif etype in (EventType.QUOTE_SUBMITTED, EventType.QUOTE_ACCEPTED):
        emit(
            key,
            etype,
            when("LastModifiedDate"),
            {"quote_id": deal_id, "amount": money["amount"], "currency": money["currency"]},
        )
    elif etype == EventType.OPPORTUNITY_CREATED:
        emit(key, etype, when("CreatedDate"), money)
    elif etype is not None:
        emit(f"{key}:{stage}", etype, when("LastModifiedDate"), {"lead_id": deal_id})
    forecast = m.forecast_categories.get(r.get("ForecastCategoryName", ""))
    if forecast is not None:
        emit(key, forecast, when("LastModifiedDate"), {"lead_id": deal_id})


def _lead(lead_id: str, r: Mapping[str, str], m: SalesforceMapping, when: Any, emit: Any) -> None:
    etype = m.lead_statuses.get(r.get("Status", ""))
    if etype is not None:
        emit(
            f"lead:{lead_id}",
            etype,
            when("ConvertedDate", "LastModifiedDate"),
            {"lead_id": lead_id},
        )


def _task(task_id: str, r: Mapping[str, str], m: SalesforceMapping, when: Any, emit: Any) -> None:
    if r.get("Status") not in (None, "", "Completed"):
        return  # an open task is a plan, not an activity
    etype = m.task_types.get(r.get("TaskSubtype") or r.get("Type") or "")
    if etype is not None:
        emit(f"task:{task_id}", etype, when("CompletedDateTime", "LastModifiedDate", "CreatedDate"))


def _event(
    meeting_id: str, r: Mapping[str, str], m: SalesforceMapping, when: Any, emit: Any
) -> None:
    key = f"event:{meeting_id}"
    outcome = (
        m.event_outcomes.get(r.get(m.event_outcome_field or "", ""))
        if m.event_outcome_field
        else None
    )
    if outcome is not None:
        emit(key, outcome, when("StartDateTime", "LastModifiedDate"), {"meeting_id": meeting_id})
        return
    start = r.get("StartDateTime") or r.get("ActivityDateTime")
    scheduled = instant(start, "StartDateTime").isoformat()
    lead = text(r.get("WhoId"))
    emit(
        key,
        EventType.MEETING_BOOKED,
        when("CreatedDate"),
        {"meeting_id": meeting_id, "scheduled_for": scheduled, "lead_id": lead},
    )


_HANDLERS = {"Opportunity": _opportunity, "Lead": _lead, "Task": _task, "Event": _event}
