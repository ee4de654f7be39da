"""The event contract compiled to msgspec: the hot path's validator, generated from the one schema.

``parse_event`` (pydantic) costs ~4 µs per event; a rebuild reads millions. This module
builds msgspec Structs from ``event_json_schema()`` at import (one tagged Struct per
event type, one per ``data`` payload), so the contract is still defined once, by the
pydantic models in ``contract.events``, and this is a compiled copy of their schema.

The compiled decoder is only a shortcut, never a second judge:

- it accepts a subset of what the models accept: unknown fields, a variant whose model
  has a validator the schema does not state (ISO 4217 membership, the list-price
  markup), and anything msgspec rejects go to ``parse_event``, which accepts or rejects
  with the contract's own error message;
- what it accepts becomes the same pydantic ``Event`` that ``parse_event`` returns
  (``tests/unit/contract/test_compiled.py`` checks equality on generated and hostile
  input, and that every compiled Struct's fields match the schema).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal, Union

import msgspec
from pydantic import BaseModel

from spm_stream.contract.events import (
    _VARIANTS,
    Event,
    EventType,
    _in_range,
    event_json_schema,
    parse_event,
)

__all__ = [
    "COMPILED_TYPES",
    "DATA_BOUNDED_TYPES",
    "decode_event",
    "decode_struct",
    "in_bounds",
    "to_event",
]

#: Validators the schema states (its formatMinimum/formatExclusiveMaximum): a model with
#: any other validator is left to pydantic, since the schema does not say what it checks.
_STATED_IN_SCHEMA: Final = frozenset({_in_range})

# pydantic's own slots of a model instance, set as ``BaseModel.model_construct`` sets them.
_set_dict = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_new = object.__new__


def _functions(core_schema: Any) -> Iterator[Any]:
    """Every validator function in a pydantic-core schema, however deeply nested."""
    if isinstance(core_schema, Mapping):
        kind = core_schema.get("type")
        if isinstance(kind, str) and kind.startswith("function-"):
            function = core_schema.get("function", {})
            yield function.get("function") if isinstance(function, Mapping) else function
        for value in core_schema.values():
            yield from _functions(value)
    elif isinstance(core_schema, list | tuple):
        for value in core_schema:
            yield from _functions(value)


def _only_stated_validators(model: type[BaseModel]) -> bool:
    return all(f in _STATED_IN_SCHEMA for f in _functions(model.__pydantic_core_schema__))


class _Unsupported(Exception):
    """A schema construct the compiler does not translate: the variant stays with pydantic."""


#: (field, earliest, latest exclusive) for each bounded date-time field of a Struct.
Bounds = tuple[tuple[str, datetime, datetime], ...]

#: The date-times the compiled decoder reads itself: msgspec's RFC 3339 parser, aware only
#: (a naive one is pydantic's to refuse). It reads every form pydantic reads as the same
#: instant ("T" or "t" or " ", "Z" or "z", "+hhmm"...) but one: a fraction of seven or
#: more digits, which msgspec rounds and pydantic truncates. ``_SEVEN_DIGITS`` finds those.
_DATE_TIME: Final = Annotated[datetime, msgspec.Meta(tz=True)]

#: Seven digits after a dot, anywhere in a raw event: a date-time that msgspec would round.
#: Such an event goes to pydantic, as does one with any escape (a "\u0037" decodes to a
#: digit, a "\u002e" to a dot). Both are rare outside hostile input, and cheap to look for.
_SEVEN_DIGITS: Final = re.compile(rb"\.[0-9]{7}")
_BACKSLASH: Final = ord("\\")  # an int: ``in`` on bytes is a memchr, no buffer to acquire


#: JSON Schema keywords and the msgspec.Meta constraints they become.
_STRING_META: Final = (
    ("minLength", "min_length"),
    ("maxLength", "max_length"),
    ("pattern", "pattern"),
)
_NUMBER_META: Final = (
    ("minimum", "ge"),
    ("maximum", "le"),
    ("exclusiveMinimum", "gt"),
    ("exclusiveMaximum", "lt"),
)


def _meta(spec: Mapping[str, Any], keywords: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return {name: spec[key] for key, name in keywords if key in spec}


def _field_type(spec: Mapping[str, Any]) -> tuple[Any, bool]:
    """The msgspec type of one schema property, and whether it is a bounded date-time."""
    if "anyOf" in spec:
        options = [o for o in spec["anyOf"] if o.get("type") != "null"]
        if len(options) != 1 or len(spec["anyOf"]) != 2:
            raise _Unsupported(f"anyOf {spec['anyOf']}")
        inner, bounded = _field_type(options[0])
        return inner | None, bounded
    if "$ref" in spec:
        raise _Unsupported("nested $ref outside data")
    kind = spec.get("type")
    if kind == "string" and spec.get("format") == "date-time":
        if "formatMinimum" not in spec or "formatExclusiveMaximum" not in spec:
            # The models range-check their timestamps (_in_range); one the schema gives no
            # bounds for may still be checked by the model: pydantic's to judge.
            raise _Unsupported("a date-time without bounds")
        return _DATE_TIME, True
    if kind == "string" and spec.get("format") == "date":
        return date, False
    if kind == "string" and "format" not in spec:
        meta = _meta(spec, _STRING_META)
        if "enum" in spec:
            if meta:
                raise _Unsupported("enum with string constraints")
            return Literal[tuple(spec["enum"])], False
        if "const" in spec:
            raise _Unsupported("const outside type")
        return (Annotated[str, msgspec.Meta(**meta)] if meta else str), False
    if kind in ("number", "integer"):
        meta = _meta(spec, _NUMBER_META)
        base = float if kind == "number" else int
        return (Annotated[base, msgspec.Meta(**meta)] if meta else base), False
    raise _Unsupported(f"type {kind!r}")


def _bound(spec: Mapping[str, Any], key: str, default: datetime) -> datetime:
    for option in spec.get("anyOf", [spec]):
        if key in option:
            return datetime.fromisoformat(option[key])
    return default


def _struct(
    name: str,
    schema: Mapping[str, Any],
    skip: frozenset[str] = frozenset(),
    extra: tuple[tuple[str, Any] | tuple[str, Any, Any], ...] = (),
    **options: Any,
) -> tuple[type[msgspec.Struct], Bounds, tuple[str, ...]]:
    """A Struct for one object schema (optional fields default to None, as in the schema),
    its bounded date-times and all its date-time fields."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    bounds, date_times = [], []
    for field, spec in schema["properties"].items():
        if field in skip:
            continue
        kind, bounded = _field_type(spec)
        if kind is _DATE_TIME or kind == _DATE_TIME | None:
            date_times.append(field)
        if bounded:
            bounds.append(
                (
                    field,
                    _bound(spec, "formatMinimum", datetime.min),
                    _bound(spec, "formatExclusiveMaximum", datetime.max),
                )
            )
        if field in schema.get("required", ()):
            fields.append((field, kind))
        elif "default" in spec and spec["default"] is None:
            fields.append((field, kind, None))
        else:
            raise _Unsupported(f"{name}.{field}: a default other than null")
    struct = msgspec.defstruct(
        name,
        [*fields, *extra],
        kw_only=True,
        forbid_unknown_fields=True,  # the models keep unknown fields: that is pydantic's case
        # Untracked by the cyclic GC: cheaper to build, and a decoded event holds only
        # strings, numbers, date-times and its payload's Struct, so it cannot be in a cycle.
        gc=False,
        **options,
    )
    return struct, tuple(bounds), tuple(date_times)


class _Compiled:
    """One event type's Struct and what it becomes: the pydantic variant and its payload."""

    __slots__ = ("bounds", "data_bounds", "data_model", "empty_data", "event_type", "model")

    def __init__(
        self,
        model: type[Event],
        event_type: EventType,
        bounds: Bounds,
        data_model: type[BaseModel],
        data_bounds: Bounds,
    ) -> None:
        self.model = model
        self.event_type = event_type
        self.bounds = bounds
        self.data_model = data_model
        self.data_bounds = data_bounds
        # A payload without fields is the model's shared default instance, as pydantic's is.
        default = model.model_fields["data"].default
        self.empty_data = default if not data_model.model_fields else None


def _compile() -> dict[type[msgspec.Struct], _Compiled]:
    """A tagged Struct per event type whose model's every check is stated in the schema."""
    schema = event_json_schema()
    defs = schema["$defs"]
    variants = {v.__name__: v for v in _VARIANTS}
    compiled: dict[type[msgspec.Struct], _Compiled] = {}
    for ref in schema["oneOf"]:
        title = ref["$ref"].rsplit("/", 1)[1]
        variant, event_schema = variants[title], defs[title]
        data_spec = event_schema["properties"]["data"]
        data_model = variant.model_fields["data"].annotation
        assert isinstance(data_model, type)
        assert issubclass(data_model, BaseModel)
        if not (_only_stated_validators(variant) and _only_stated_validators(data_model)):
            continue  # a validator the schema does not state: pydantic's alone
        data_title = data_spec["$ref"].rsplit("/", 1)[1]
        try:
            data_struct, data_bounds, _ = _struct(f"_{data_title}", defs[data_title])
            # An optional payload defaults to an empty one, as the model's does.
            data_field: tuple[str, Any] | tuple[str, Any, Any] = (
                ("data", data_struct, msgspec.field(default_factory=data_struct))
                if "default" in data_spec
                else ("data", data_struct)
            )
            type_spec = event_schema["properties"]["type"]
            for value in type_spec.get("enum") or [type_spec["const"]]:
                struct, bounds, times = _struct(
                    f"_{title}_{value}",
                    event_schema,
                    skip=frozenset({"type", "data"}),
                    extra=(data_field,),
                    tag_field="type",
                    tag=value,
                    # a class attribute: what the ingest loop reads per event
                    namespace={"event_type": EventType(value)},
                )
                if times != ("occurred_at",):
                    raise _Unsupported(f"{title}: envelope date-times {times}")
                compiled[struct] = _Compiled(
                    variant, EventType(value), bounds, data_model, data_bounds
                )
        except _Unsupported:
            continue
    return compiled


_COMPILED: Final = _compile()
asdict: Final = msgspec.structs.asdict
_DECODER: Final = msgspec.json.Decoder(
    Union[tuple(_COMPILED)]  # noqa: UP007
)

#: The event types the compiled decoder handles; the others always go through pydantic.
COMPILED_TYPES: Final = frozenset(c.event_type for c in _COMPILED.values())

#: Compiled types whose payload has a bounded date-time (``in_bounds`` checks it).
DATA_BOUNDED_TYPES: Final = frozenset(c.event_type for c in _COMPILED.values() if c.data_bounds)


def _in_bounds(struct: msgspec.Struct, bounds: Bounds) -> bool:
    for field, earliest, latest in bounds:
        value = getattr(struct, field)
        if value is not None and not earliest <= value < latest:
            return False
    return True


def _model(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """A validated model from values msgspec checked, as ``BaseModel.model_construct`` builds
    it, without its per-field Python loop (its four attributes are pydantic's own)."""
    model = _new(cls)
    _set_dict(model, "__dict__", values)
    _set_fields_set(model, set(values))
    _set_extra(model, {})
    _set_private(model, None)
    return model


def decode_struct(raw: bytes) -> Any | None:
    """The compiled Struct of a raw event, or None when only ``parse_event`` can judge it
    (a type left to pydantic, an unknown field, a date-time that may have more than six
    fractional digits, anything msgspec rejects). Its fields are typed and checked, and
    its class attribute ``event_type`` names its type; the schema's date-time bounds are
    left to ``in_bounds`` and ``to_event``."""
    try:
        struct = _DECODER.decode(raw)
    except msgspec.DecodeError:
        return None
    if _SEVEN_DIGITS.search(raw) or _BACKSLASH in raw:
        return None
    return struct


def in_bounds(struct: Any) -> bool:
    """True when every bounded date-time of the Struct (and its payload) is in the schema's
    range; ``to_event`` returns None otherwise."""
    compiled = _COMPILED[type(struct)]
    return _in_bounds(struct, compiled.bounds) and _in_bounds(struct.data, compiled.data_bounds)


def to_event(struct: Any) -> Event | None:
    """The pydantic ``Event`` ``parse_event`` would return for this Struct's input, or None
    when a date-time is out of the contract's range (``parse_event`` words that error)."""
    if not in_bounds(struct):
        return None
    compiled = _COMPILED[type(struct)]
    values = asdict(struct)
    values["type"] = compiled.event_type
    values["data"] = compiled.empty_data or _model(compiled.data_model, asdict(struct.data))
    event: Event = _model(compiled.model, values)
    return event


def decode_event(raw: bytes) -> Event:
    """Validate one raw JSON event exactly as ``parse_event`` does, faster where it can.

    Raises ``InvalidEvent`` (from ``parse_event``) naming the first bad field."""
    struct = decode_struct(raw)
    event = to_event(struct) if struct is not None else None
    return event if event is not None else parse_event(raw)
