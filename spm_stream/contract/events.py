"""The canonical CRM event: the public input contract of spm-stream (docs/kpis-and-events.md).

One JSON object per event. ``parse_event`` turns raw bytes into a typed
``Event`` or raises ``InvalidEvent`` naming the first bad field, so the ingest
stage can send the original bytes to the dead-letter topic with a reason.
Unknown extra fields are kept, both on the envelope and inside ``data``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Union, cast

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from spm_stream.contract.currencies import ISO_4217

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_AMOUNT",
    "SCHEMA_VERSION",
    "DealWonData",
    "Event",
    "EventType",
    "InvalidEvent",
    "MeetingBookedData",
    "MeetingData",
    "MeetingRescheduledData",
    "NpsData",
    "RepHiredData",
    "event_json_schema",
    "parse_event",
]

#: Bumped on any incompatible change of the contract; the JSON Schema's $id carries it.
SCHEMA_VERSION: Final = 1


class EventType(StrEnum):
    """Every event type the contract knows; anything else is rejected."""

    ACTIVITY_CALL = "activity.call"
    ACTIVITY_EMAIL = "activity.email"
    ACTIVITY_SOCIAL = "activity.social"
    ACTIVITY_DEMO = "activity.demo"
    ACTIVITY_EVENT_ATTENDED = "activity.event_attended"
    CONVERSATION_MEANINGFUL = "conversation.meaningful"
    LEAD_CREATED = "lead.created"
    LEAD_QUALIFIED = "lead.qualified"
    LEAD_IN_FORECAST = "lead.in_forecast"
    MEETING_BOOKED = "meeting.booked"
    MEETING_HELD = "meeting.held"
    MEETING_NO_SHOW = "meeting.no_show"
    MEETING_RESCHEDULED = "meeting.rescheduled"
    MEETING_CANCELED = "meeting.canceled"
    OPPORTUNITY_CREATED = "opportunity.created"
    DEAL_WON = "deal.won"
    DEAL_LOST = "deal.lost"
    QUOTE_SUBMITTED = "quote.submitted"
    QUOTE_ACCEPTED = "quote.accepted"
    REFERRAL_GIVEN = "referral.given"
    REFERRAL_RECEIVED = "referral.received"
    NPS_RESPONSE = "nps.response"
    REP_HIRED = "rep.hired"


Id = Annotated[StrictStr, Field(min_length=1, max_length=256)]

#: The largest money amount one event may carry, in units of its currency. The store
#: keeps money as integers of 1/10 000 (``facts.MONEY_SCALE``) summed in Redis's Lua,
#: whose numbers are doubles: 1e11 x 10 000 = 1e15 stays below 2**53, so every amount
#: is exact there. 100 billion covers a deal in any currency (4 M USD in dong is 1e11).
MAX_AMOUNT: Final = 100_000_000_000
Amount = Annotated[
    float,
    Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="At most 1e11 currency units."),
]

#: Every timestamp of the contract lies in [EARLIEST, LATEST): wide enough for any
#: CRM's history, narrow enough that local days, spans and epochs never leave what
#: Python's datetime and the store hold (a date near year 1 or 9999 overflowed them).
EARLIEST: Final = datetime(1900, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
_BOUNDS_TEXT: Final = "between 1900-01-01 and 2100-01-01 (UTC)"


def _in_range(value: datetime | date) -> datetime | date:
    at = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time(), UTC)
    try:
        inside = EARLIEST <= at < LATEST
    except OverflowError:  # year 1 or 9999 with an offset: outside in UTC, even to compare
        inside = False
    if not inside:
        raise ValueError(f"must be {_BOUNDS_TEXT}, got {value.isoformat()}")
    return value


_RANGE_SCHEMA: Final = {
    "description": f"ISO-8601 with a UTC offset, {_BOUNDS_TEXT}.",
    "formatMinimum": EARLIEST.isoformat().replace("+00:00", "Z"),
    "formatExclusiveMaximum": LATEST.isoformat().replace("+00:00", "Z"),
}
Timestamp = Annotated[
    AwareDatetime, AfterValidator(_in_range), Field(json_schema_extra=_RANGE_SCHEMA)
]


def _iso_4217(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError(f"unknown ISO 4217 currency code {code!r}")
    return code


Currency = Annotated[
    StrictStr, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code"), AfterValidator(_iso_4217)
]


#: How far above its list price a deal may be sold (``DealWonData.list_price``).
_MAX_MARKUP: Final = 1000


class _Data(BaseModel):
    """Base of every ``data`` payload: strict types, unknown fields kept."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class NoData(_Data):
    """Types that carry no required payload."""


class LeadData(_Data):
    lead_id: Id


class MeetingData(_Data):
    meeting_id: Id


class MeetingBookedData(_Data):
    meeting_id: Id
    scheduled_for: Timestamp
    lead_id: Id | None = None
    # The lead's or company's name: alerts about the meeting name it, not only its id.
    lead_name: Annotated[StrictStr, Field(min_length=1, max_length=256)] | None = None


class MeetingRescheduledData(_Data):
    meeting_id: Id
    scheduled_for: Timestamp
    initiated_by: Literal["rep", "prospect"]


class OpportunityData(_Data):
    deal_id: Id
    amount: Amount | None = None
    currency: Currency | None = None


class DealWonData(_Data):
    deal_id: Id
    amount: Amount
    currency: Currency
    product: Id
    # Optional: a win without it still counts in revenue, only not in cycle length.
    created_at: Timestamp | None = None
    list_price: Amount | None = None

    @field_validator("list_price")
    @classmethod
    def _list_price(cls, value: float | None, info: ValidationInfo) -> float | None:
        # A price of 1,000 x its list price is a unit mistake (cents for euros), and the
        # discount of one tiny list price would swamp every average it enters.
        amount = info.data.get("amount")
        if value and amount is not None and amount > value * _MAX_MARKUP:
            raise ValueError(
                f"must be at least amount / {_MAX_MARKUP} ({amount / _MAX_MARKUP:g}); "
                "0 or no list_price means none"
            )
        return value


class DealLostData(_Data):
    deal_id: Id
    amount: Amount | None = None
    currency: Currency | None = None
    product: Id | None = None
    created_at: Timestamp | None = None


class QuoteData(_Data):
    quote_id: Id
    amount: Amount | None = None
    currency: Currency | None = None


class NpsData(_Data):
    score: Annotated[int, Field(ge=0, le=10)]


class RepHiredData(_Data):
    hired_at: Annotated[AwareDatetime | date, AfterValidator(_in_range)]


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    event_id: Id = Field(description="Unique per event; the dedupe key.")
    occurred_at: Timestamp
    rep_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    team_id: Annotated[StrictStr, Field(min_length=1, max_length=128)] | None = None
    source: Annotated[StrictStr, Field(max_length=64)] | None = None


class Event(_Envelope):
    """A validated canonical event (the typed view every stage after ingest sees)."""

    type: EventType
    data: SerializeAsAny[_Data] = Field(default_factory=NoData)


def _variant(name: str, types: tuple[EventType, ...], data: type[_Data], required: bool) -> Any:
    """Build one member of the event union: a literal set of types and their payload."""
    # A Literal built at runtime from a tuple: fine for pydantic, opaque to mypy.
    type_field: Any = (Literal[types], ...)
    # An optional payload defaults to one shared, frozen instance (not a new one per event).
    data_field = (data, ...) if required else (data, data())
    return create_model(name, __base__=Event, type=type_field, data=data_field)


_T = EventType
_VARIANTS: Final = (
    _variant(
        "SimpleEvent",
        (
            _T.ACTIVITY_CALL,
            _T.ACTIVITY_EMAIL,
            _T.ACTIVITY_SOCIAL,
            _T.ACTIVITY_DEMO,
            _T.ACTIVITY_EVENT_ATTENDED,
            _T.CONVERSATION_MEANINGFUL,
            _T.REFERRAL_GIVEN,
            _T.REFERRAL_RECEIVED,
        ),
        NoData,
        required=False,
    ),
    _variant(
        "LeadEvent", (_T.LEAD_CREATED, _T.LEAD_QUALIFIED, _T.LEAD_IN_FORECAST), LeadData, True
    ),
    _variant("MeetingBookedEvent", (_T.MEETING_BOOKED,), MeetingBookedData, True),
    _variant(
        "MeetingEvent",
        (_T.MEETING_HELD, _T.MEETING_NO_SHOW, _T.MEETING_CANCELED),
        MeetingData,
        True,
    ),
    _variant("MeetingRescheduledEvent", (_T.MEETING_RESCHEDULED,), MeetingRescheduledData, True),
    _variant("OpportunityEvent", (_T.OPPORTUNITY_CREATED,), OpportunityData, True),
    _variant("DealWonEvent", (_T.DEAL_WON,), DealWonData, True),
    _variant("DealLostEvent", (_T.DEAL_LOST,), DealLostData, True),
    _variant("QuoteEvent", (_T.QUOTE_SUBMITTED, _T.QUOTE_ACCEPTED), QuoteData, True),
    _variant("NpsEvent", (_T.NPS_RESPONSE,), NpsData, True),
    _variant("RepHiredEvent", (_T.REP_HIRED,), RepHiredData, True),
)

_ADAPTER: Final[TypeAdapter[Any]] = TypeAdapter(
    # Union over a runtime tuple of variants, discriminated by "type" (one lookup, no trials).
    cast(Any, Annotated[Union[_VARIANTS], Field(discriminator="type")])  # noqa: UP007
)


class InvalidEvent(ValueError):
    """An event that breaks the contract; ``field`` is a dotted path ("data.amount")."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def parse_event(raw: bytes | str) -> Event:
    """Validate one raw JSON event; raise ``InvalidEvent`` naming the first bad field."""
    try:
        # Every variant subclasses Event, so the validated object is returned as it is.
        event: Event = _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None
    return event


def _first_error(exc: ValidationError) -> InvalidEvent:
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    # A discriminated union puts the variant name first in the location; drop it.
    loc = [str(p) for p in err["loc"]]
    if loc and not (loc[0] in _Envelope.model_fields or loc[0] in ("type", "data")):
        loc = loc[1:]
    if kind == "json_invalid":
        return InvalidEvent("", f"malformed JSON: {err['ctx'].get('error', err['msg'])}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = err.get("ctx", {}).get("tag")
        if kind == "union_tag_not_found":
            return InvalidEvent("type", "Field required")
        return InvalidEvent("type", f"unknown event type {tag!r}")
    if kind in ("model_type", "model_attributes_type"):
        return InvalidEvent(".".join(loc), "expected a JSON object")
    if kind == "timezone_aware":
        return InvalidEvent(".".join(loc), "timestamp needs a UTC offset (e.g. 'Z' or '+01:00')")
    if kind == "value_error":  # our own validators: their message without pydantic's prefix
        return InvalidEvent(".".join(loc), str(err["ctx"]["error"]))
    return InvalidEvent(".".join(loc), err["msg"])


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of the contract, as committed in ``contract/schema/event.schema.json``."""
    schema = _ADAPTER.json_schema(ref_template="#/$defs/{model}")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:spm-stream:schema:event:v{SCHEMA_VERSION}",
        "title": "spm-stream canonical CRM event",
        **schema,
    }
    return schema
