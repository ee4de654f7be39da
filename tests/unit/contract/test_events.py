"""The event contract: what is accepted, what is rejected and with which field named."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_stream.contract.events import EventType, InvalidEvent, event_json_schema, parse_event

SCHEMA_FILE = Path(__file__).parents[3] / "spm_stream" / "contract" / "schema" / "event.schema.json"

DEAL_WON = {
    "event_id": "hs-88213",
    "type": "deal.won",
    "occurred_at": "2026-11-02T15:04:05Z",
    "rep_id": "rep-17",
    "team_id": "emea-smb",
    "source": "hubspot",
    "data": {
        "deal_id": "D-1",
        "amount": 500.0,
        "currency": "EUR",
        "product": "premium",
        "created_at": "2026-10-10T09:00:00Z",
    },
}


def _with(base: dict, **changes: object) -> bytes:
    event = json.loads(json.dumps(base))
    for path, value in changes.items():
        target = event
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(event).encode()


def test_design_example_parses_with_types() -> None:
    event = parse_event(json.dumps(DEAL_WON))
    assert event.type is EventType.DEAL_WON
    assert event.occurred_at.utcoffset() is not None
    assert event.data.amount == 500.0  # type: ignore[attr-defined]


def test_unknown_fields_are_kept_on_envelope_and_data() -> None:
    event = parse_event(_with(DEAL_WON, crm_extra="x", data__custom=7))
    dumped = json.loads(event.model_dump_json())
    assert dumped["crm_extra"] == "x"
    assert dumped["data"]["custom"] == 7
    assert dumped["data"]["deal_id"] == "D-1"


def test_offset_is_preserved() -> None:
    event = parse_event(_with(DEAL_WON, occurred_at="2026-11-02T15:04:05+01:00"))
    assert event.occurred_at.utcoffset().total_seconds() == 3600  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"{", "", "malformed JSON"),
        (b"[1, 2]", "", "object"),
        (_with(DEAL_WON, event_id=...), "event_id", "Field required"),
        (_with(DEAL_WON, rep_id=...), "rep_id", "Field required"),
        (_with(DEAL_WON, type=...), "type", "Field required"),
        (_with(DEAL_WON, occurred_at=...), "occurred_at", "Field required"),
        (_with(DEAL_WON, type="deal.maybe"), "type", "unknown event type 'deal.maybe'"),
        (_with(DEAL_WON, occurred_at="2026-11-02T15:04:05"), "occurred_at", "UTC offset"),
        (_with(DEAL_WON, occurred_at="yesterday"), "occurred_at", "datetime"),
        (_with(DEAL_WON, rep_id=17), "rep_id", "valid string"),
        (_with(DEAL_WON, rep_id=""), "rep_id", "at least 1"),
        (_with(DEAL_WON, data=[]), "data", "JSON object"),
        (_with(DEAL_WON, data__amount="500"), "data.amount", "valid number"),
        (_with(DEAL_WON, data__amount=-1), "data.amount", "greater than or equal to 0"),
        (_with(DEAL_WON, data__currency="euro"), "data.currency", "pattern"),
        (_with(DEAL_WON, data__currency="XYZ"), "data.currency", "unknown ISO 4217 currency"),
        (_with(DEAL_WON, data__deal_id=...), "data.deal_id", "Field required"),
        (_with(DEAL_WON, data=...), "data", "Field required"),
        (
            b'{"event_id":"a","type":"nps.response","occurred_at":"2026-11-02T15:04:05Z",'
            b'"rep_id":"r","data":{"score":11}}',
            "data.score",
            "less than or equal to 10",
        ),
        (
            b'{"event_id":"a","type":"meeting.rescheduled","occurred_at":"2026-11-02T15:04:05Z",'
            b'"rep_id":"r","data":{"meeting_id":"m","scheduled_for":"2026-11-03T10:00:00Z",'
            b'"initiated_by":"boss"}}',
            "data.initiated_by",
            "'rep' or 'prospect'",
        ),
        (
            b'{"event_id":"a","type":"deal.won","occurred_at":"2026-11-02T15:04:05Z","rep_id":"r",'
            b'"data":{"deal_id":"d","amount":NaN,"currency":"EUR","product":"p"}}',
            "data.amount",
            "finite",
        ),
        (b"\xff\xfe\x00", "", "malformed JSON"),
    ],
)
def test_rejects_name_the_field(raw: bytes, field: str, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.field == field
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        # What the store can hold is the contract's: each bound named with its limit.
        (_with(DEAL_WON, data__amount=1e15), "data.amount", "less than or equal to 100000000000"),
        (_with(DEAL_WON, data__amount=1.85e15), "data.amount", "100000000000"),
        (_with(DEAL_WON, data__list_price=1e-9), "data.list_price", "at least amount / 1000"),
        (_with(DEAL_WON, occurred_at="0001-01-01T00:00:00Z"), "occurred_at", "1900-01-01"),
        (_with(DEAL_WON, occurred_at="0001-01-01T00:00:00+05:00"), "occurred_at", "2100-01-01"),
        (_with(DEAL_WON, occurred_at="9999-12-31T23:59:59-05:00"), "occurred_at", "2100-01-01"),
        # HubSpot's "no close date", 253402299000000 ms, mapped to its instant.
        (
            _with(DEAL_WON, data__created_at="9999-12-31T23:59:59Z"),
            "data.created_at",
            "between 1900-01-01 and 2100-01-01",
        ),
        (
            _with(DEAL_WON, type="rep.hired", data={"hired_at": "0001-01-01"}),
            "data.hired_at",
            "1900-01-01",
        ),
    ],
)
def test_numbers_and_dates_are_bounded_to_what_the_store_holds(
    raw: bytes, field: str, reason: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_the_bounds_themselves_are_accepted() -> None:
    parse_event(_with(DEAL_WON, data__amount=1e11, data__list_price=1e8))
    parse_event(_with(DEAL_WON, occurred_at="1900-01-01T00:00:00Z"))
    parse_event(_with(DEAL_WON, occurred_at="2099-12-31T23:59:59.999Z"))
    parse_event(_with(DEAL_WON, data__list_price=0))  # 0: no list price


def test_types_without_payload_need_no_data() -> None:
    event = parse_event(
        b'{"event_id":"c1","type":"activity.call",'
        b'"occurred_at":"2026-11-02T15:04:05Z","rep_id":"r"}'
    )
    assert event.type is EventType.ACTIVITY_CALL


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_parser(raw: bytes) -> None:
    try:
        parse_event(raw)
    except InvalidEvent as exc:
        reason = str(exc)
        assert reason


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == event_json_schema(), (
        "run `spm-stream schema > spm_stream/contract/schema/event.schema.json`"
    )


def test_schema_accepts_and_rejects_like_the_model() -> None:
    schema = event_json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(DEAL_WON)
    assert not validator.is_valid(json.loads(_with(DEAL_WON, type="deal.maybe")))
    assert not validator.is_valid(json.loads(_with(DEAL_WON, data__amount=-1)))
