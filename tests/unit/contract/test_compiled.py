"""The compiled decoder is a shortcut, never a second judge: whatever it accepts, pydantic
accepts as the same ``Event``; whatever it cannot judge, pydantic decides and words."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spm_stream.contract import compiled
from spm_stream.contract.compiled import (
    COMPILED_TYPES,
    DATA_BOUNDED_TYPES,
    decode_event,
    decode_struct,
    in_bounds,
)
from spm_stream.contract.events import EventType, InvalidEvent, event_json_schema, parse_event
from tests.events import event

#: One valid payload per type: the base every hostile variation starts from.
PAYLOADS: dict[str, dict[str, Any]] = {
    "lead.created": {"lead_id": "L-1"},
    "lead.qualified": {"lead_id": "L-1"},
    "lead.in_forecast": {"lead_id": "L-1"},
    "meeting.booked": {"meeting_id": "M-1", "scheduled_for": "2026-11-04T10:00:00Z"},
    "meeting.held": {"meeting_id": "M-1"},
    "meeting.no_show": {"meeting_id": "M-1"},
    "meeting.canceled": {"meeting_id": "M-1"},
    "meeting.rescheduled": {
        "meeting_id": "M-1",
        "scheduled_for": "2026-11-05T10:00:00+01:00",
        "initiated_by": "rep",
    },
    "opportunity.created": {"deal_id": "D-1", "amount": 10.0, "currency": "EUR"},
    "deal.won": {"deal_id": "D-1", "amount": 500.0, "currency": "EUR", "product": "p"},
    "deal.lost": {"deal_id": "D-1"},
    "quote.submitted": {"quote_id": "Q-1"},
    "quote.accepted": {"quote_id": "Q-1", "amount": 3},
    "nps.response": {"score": 9},
    "rep.hired": {"hired_at": "2026-02-22"},
}

#: Values that probe the edges of strings, numbers, timestamps and nulls.
ODD = st.sampled_from(
    [
        None,
        "",
        "x",
        "x" * 64,
        "x" * 65,
        "x" * 128,
        "x" * 129,
        "x" * 257,
        "é" * 128,
        "😀" * 129,
        0,
        -1,
        10,
        11,
        5.0,
        5.5,
        True,
        1e11,
        1e11 + 1,
        [],
        {},
        "rep",
        "prospect",
        "EUR",
        "eur",
        "XXX",
        "2026-11-02T15:04:05Z",
        "2026-11-02T15:04:05z",
        "2026-11-02t15:04:05Z",
        "2026-11-02 15:04:05Z",
        "2026-11-02T15:04:05",
        "2026-11-02T15:04:05+01:00",
        "2026-11-02T15:04:05-00:00",
        "2026-11-02T15:04:05+0100",
        "2026-11-02T15:04:05.1234567Z",
        "2026-11-02T15:04:59.9999999Z",
        "2026-11-02T15:04:05+23:59",
        "2026-11-02T15:04:05+24:00",
        "2026-11-02T15:04:05.Z",
        "2026-11-02T15:04:05.123Z",
        "2026-11-02T15:04Z",
        "2026-11-02T23:59:60Z",
        "2026-11-02",
        "1899-12-31T23:59:59Z",
        "1900-01-01T00:30:00+01:00",
        "1900-01-01T00:00:00Z",
        "2099-12-31T23:59:59.999999Z",
        "2100-01-01T00:00:00Z",
        "2099-12-31T23:30:00-01:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ]
)
ENVELOPE_FIELDS = ["event_id", "occurred_at", "rep_id", "team_id", "source", "type", "data"]


@st.composite
def hostile_events(draw: st.DrawFn) -> bytes:
    """A valid event of any type, then a few fields dropped, replaced or added."""
    kind = draw(st.sampled_from(sorted(EventType)))
    body: dict[str, Any] = {
        "event_id": "e-1",
        "type": kind.value,
        "occurred_at": "2026-11-02T10:00:00Z",
        "rep_id": "rep-1",
        "team_id": "t-1",
        "source": "crm",
    }
    data = dict(PAYLOADS.get(kind.value, {}))
    if data or draw(st.booleans()):
        body["data"] = data
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["envelope", "data"]))
        target = data if where == "data" and "data" in body else body
        fields = [*ENVELOPE_FIELDS, "extra"] if target is body else [*data, "lead_id", "extra"]
        field = draw(st.sampled_from(fields))
        match draw(st.sampled_from(["drop", "set"])):
            case "drop":
                target.pop(field, None)
            case _:
                target[field] = draw(ODD)
    return json.dumps(body, ensure_ascii=draw(st.booleans())).encode()


def _outcome(raw: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse_event(raw)
    except InvalidEvent as exc:
        return "invalid", str(exc)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_events())
@example(event("e", "activity.call", at="1899-12-31T23:59:59Z"))
@example(event("e", "meeting.booked", meeting_id="m", scheduled_for="2100-01-01T00:00:00Z"))
@example(b'{"event_id":"e","type":"activity.call","occurred_at":"2026-11-02T10:00:00Z"}')
@example(b"{not json")
@example(
    b'{"event_id":"e","type":"activity.call","occurred_at":"2026-11-02T10:00:00Z",'
    b'"rep_id":"a","rep_id":"b"}'
)  # a repeated field: the last one, in both
@example(
    b'{"event_id":"e","type":"activity.call","type":"activity.email",'
    b'"occurred_at":"2026-11-02T10:00:00Z","rep_id":"a"}'
)
@example(
    b'{"event_id":"e\\ud800","type":"activity.call","occurred_at":"2026-11-02T10:00:00Z",'
    b'"rep_id":"a"}'
)  # a lone surrogate
@example(
    b'{"event_id":"e\\u0000","type":"activity.call","occurred_at":"2026-11-02T10:00:00Z",'
    b'"rep_id":"a"}'
)
@example(
    b'{"event_id":"e","type":"activity.call","occurred_at":"2026-11-02T10:00:00.123456\\u0037Z",'
    b'"rep_id":"a"}'
)  # a seventh digit behind an escape: msgspec would round it, pydantic truncates
@example(
    b'{"event_id":"e","type":"activity.call","occurred_at":"2026-11-02T10:00:00\\u002e9999999Z",'
    b'"rep_id":"a"}'
)
def test_the_compiled_decoder_agrees_with_pydantic(raw: bytes) -> None:
    expected = _outcome(raw)
    try:
        got: tuple[str, Any] = ("ok", decode_event(raw))
    except InvalidEvent as exc:
        got = ("invalid", str(exc))
    assert got == expected
    if got[0] == "ok":
        assert type(got[1]) is type(expected[1])
        assert type(got[1].data) is type(expected[1].data)
        assert got[1].type is expected[1].type
    struct = decode_struct(raw)
    if struct is not None and in_bounds(struct):  # it only accepts what pydantic accepts
        assert expected[0] == "ok", (raw, expected)


def test_the_common_types_are_compiled_and_the_rest_named() -> None:
    """A type left to pydantic is slower, not wrong: this list changes on purpose only."""
    left_to_pydantic = {
        # ISO 4217 membership and the list-price markup are checks the schema does not state
        EventType.OPPORTUNITY_CREATED,
        EventType.DEAL_WON,
        EventType.DEAL_LOST,
        EventType.QUOTE_SUBMITTED,
        EventType.QUOTE_ACCEPTED,
        # a date-time or a date: msgspec unions hold one string-like type
        EventType.REP_HIRED,
    }
    assert set(EventType) - COMPILED_TYPES == left_to_pydantic
    assert {EventType.MEETING_BOOKED, EventType.MEETING_RESCHEDULED} == DATA_BOUNDED_TYPES


def test_every_compiled_struct_has_the_fields_of_its_schema() -> None:
    schema = event_json_schema()
    defs = schema["$defs"]
    for struct, info in compiled._COMPILED.items():
        (variant,) = [
            defs[title]
            for title in defs
            if title == info.model.__name__  # the variant the struct was compiled from
        ]
        fields = {f.name: f for f in msgspec.structs.fields(struct)}
        assert set(fields) == set(variant["properties"]) - {"type"}
        required = {name for name, f in fields.items() if f.required}
        assert required == set(variant["required"]) - {"type"}
        data_struct = fields["data"].type
        data_schema = defs[variant["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
        data_fields = {f.name: f for f in msgspec.structs.fields(data_struct)}
        assert set(data_fields) == set(data_schema["properties"])
        assert {n for n, f in data_fields.items() if f.required} == set(
            data_schema.get("required", [])
        )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (event("e", "activity.call", crm_field=1), "an unknown payload field"),
        (b'{"event_id":"e","type":"activity.call","occurred_at":"2026-11-02T10:00:00Z",'
         b'"rep_id":"r","crm":"hubspot-extra"}', "an unknown envelope field"),
        (event("e", "deal.won", deal_id="d", amount=1.0, currency="EUR", product="p"),
         "a type left to pydantic"),
    ],
)  # fmt: skip
def test_what_the_compiled_decoder_leaves_to_pydantic_is_still_accepted(
    raw: bytes, why: str
) -> None:
    assert decode_struct(raw) is None, why
    assert decode_event(raw) == parse_event(raw)
    assert decode_event(raw).model_extra == parse_event(raw).model_extra


@pytest.mark.parametrize(
    ("raw", "compiled_too"),
    [
        (event("e", "activity.call", at="2026-11-02T10:00:00.123456Z"), True),
        (event("e", "meeting.booked", meeting_id="m", lead_name="A.B. Corp",
               scheduled_for="2026-11-04T10:00:00.5+01:00"), True),
        (event("e", "activity.call", at="2026-11-02T10:00:00.1234567Z"), False),
        (event("e", "meeting.booked", meeting_id="m",
               scheduled_for="2026-11-04T10:00:00.0000001Z"), False),
        # json.dumps escapes the ü: an escape may hide a digit, so pydantic reads it
        (event("e", "meeting.booked", meeting_id="m", lead_name="Müller",
               scheduled_for="2026-11-04T10:00:00Z"), False),
    ],
)  # fmt: skip
def test_only_a_date_time_that_may_round_is_left_to_pydantic(
    raw: bytes, compiled_too: bool
) -> None:
    """msgspec rounds a seventh fractional digit where pydantic truncates: a record that may
    hold one (seven digits after a dot, or an escape hiding them) is pydantic's; six
    digits, or a dot elsewhere, stay on the compiled path."""
    struct = decode_struct(raw)
    assert (struct is not None) is compiled_too
    assert decode_event(raw) == parse_event(raw)
