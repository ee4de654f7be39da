"""Bulk import of CRM exports: CSV or JSON Lines rows → canonical events → Kafka.

``row_event`` is pure: one row and an ``ImportMapping`` give a canonical event
(or ``InvalidEvent`` naming the field). ``import_file`` is the shell: it
produces valid rows keyed by rep_id, writes rejected rows with their reasons
to a file, and checkpoints the rows Kafka acknowledged in a state file, so an
interrupted import resumes where it stopped (and a repeated one is harmless:
event ids already counted are skipped by the worker).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson
from kafka import KafkaProducer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from spm_stream.config.directory import check_zone
from spm_stream.config.files import load_yaml_model
from spm_stream.config.settings import Settings
from spm_stream.contract.events import EventType, InvalidEvent, parse_event

__all__ = ["ImportMapping", "ImportResult", "import_file", "load_import_mapping", "row_event"]

#: ``data`` fields whose CSV text is a number in the contract.
_NUMBERS = frozenset({"amount", "list_price", "score"})


class ImportMapping(BaseModel):
    """How the columns of one CRM export become canonical events (``--mapping FILE.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Canonical field ← column, e.g. occurred_at: 'Activity date', "
        "data.amount: 'Amount'. Unnamed fields are read from same-named columns.",
    )
    type: EventType | None = Field(default=None, description="One type for every row.")
    type_column: str | None = Field(default=None, description="Column whose value picks the type.")
    types: dict[str, EventType] = Field(
        default_factory=dict, description="That column's values → event types."
    )
    owners: dict[str, str] = Field(
        default_factory=dict,
        description="Values of the rep column → rep ids (e.g. owner names or CRM user ids).",
    )
    timezone: str | None = Field(
        default=None,
        description="Zone of timestamps without an offset (unset: such rows are rejected).",
    )
    event_id_format: str = Field(
        default="{id}",
        description="The event_id built from the id column ({id}) and the type ({type}); match "
        "the webhook's ids (e.g. 'hubspot:call:{id}:{type}') so an import after webhooks "
        "does not count twice.",
    )
    source: str | None = Field(default=None, description="The events' source, e.g. hubspot.")
    skip_unknown_types: bool = Field(
        default=True, description="Rows of unmapped types are skipped, not rejected."
    )

    @field_validator("event_id_format")
    @classmethod
    def _id_format(cls, value: str) -> str:
        try:
            value.format(id="x", type="y")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{id}} and {{type}} can be used: {exc}") from None
        return value

    _zone = field_validator("timezone")(check_zone)


def load_import_mapping(path: Path | None) -> ImportMapping:
    """The mapping file, or the identity mapping (canonical column names) without one."""
    return ImportMapping() if path is None else load_yaml_model(path, ImportMapping)


class Skip(Exception):
    """A row of a type the mapping leaves out."""


_ENVELOPE = frozenset({"event_id", "type", "occurred_at", "rep_id", "team_id", "source", "data"})


def row_event(
    row: Mapping[str, Any], mapping: ImportMapping, *, keep_extra: bool = False
) -> dict[str, Any]:
    """One export row as a canonical event; ``InvalidEvent`` names the bad field.

    ``keep_extra`` keeps fields the contract does not know (JSON Lines events
    keep theirs); CSV columns that are not mapped are left out.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        wanted = keep_extra or (key in _ENVELOPE or str(key).startswith("data."))
        if key is not None and value not in (None, "") and wanted:
            flat[key] = value
    for field, column in mapping.columns.items():
        flat[field] = row.get(column)
    if mapping.type is not None:
        flat["type"] = str(mapping.type)
    elif mapping.type_column is not None:
        label = str(row.get(mapping.type_column) or "")
        if label not in mapping.types:
            if mapping.skip_unknown_types:
                raise Skip(label)
            raise InvalidEvent("type", f"{mapping.type_column} {label!r} is not in types")
        flat["type"] = str(mapping.types[label])
    event: dict[str, Any] = {"data": {}}
    for field, value in flat.items():
        if value in (None, ""):
            continue
        if field.startswith("data."):
            name = field.removeprefix("data.")
            event["data"][name] = _number(value, field) if name in _NUMBERS else value
        elif field == "data" and isinstance(value, dict):
            event["data"].update(value)
        else:
            event[field] = value
    if "rep_id" in event:
        event["rep_id"] = mapping.owners.get(str(event["rep_id"]), str(event["rep_id"]))
    if "event_id" in event:
        event["event_id"] = mapping.event_id_format.format(
            id=event["event_id"], type=event.get("type", "")
        )
    if mapping.source is not None:
        event.setdefault("source", mapping.source)
    if mapping.timezone is not None:
        zone = ZoneInfo(mapping.timezone)
        if isinstance(event.get("occurred_at"), str):
            event["occurred_at"] = _aware(event["occurred_at"], zone, "occurred_at")
        for name in ("scheduled_for", "created_at"):
            if isinstance(event["data"].get(name), str):
                event["data"][name] = _aware(event["data"][name], zone, f"data.{name}")
    if not event["data"]:
        del event["data"]
    return event


def _number(value: Any, field: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        number = float(value.replace(",", "")) if value.strip() else None
    except ValueError:
        raise InvalidEvent(field, f"not a number: {value!r}") from None
    return int(number) if number is not None and field == "data.score" else number


def _aware(value: str, zone: ZoneInfo, field: str) -> str:
    """An export's local timestamp in the mapping's zone; offsets already given are kept."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise InvalidEvent(field, f"not an ISO-8601 timestamp: {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).isoformat()


@dataclass
class ImportResult:
    """What an import did: rows read this run, produced, rejected, skipped, and resumed past."""

    rows: int = 0
    produced: int = 0
    rejected: int = 0
    skipped: int = 0
    resumed_from: int = 0


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield from csv.DictReader(handle)
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield {"__error__": f"line {number}: malformed JSON: {exc}", "__raw__": line}
                continue
            yield value if isinstance(value, dict) else {"__error__": "expected an object"}


def _fingerprint(path: Path) -> str:
    """Identifies the file's content, so a state file is never applied to another file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
    return f"{path.stat().st_size}:{digest.hexdigest()[:16]}"


def count_rows(path: Path) -> int:
    """Rows in the file (for the progress bar)."""
    return sum(1 for _ in _rows(path))


def import_file(
    settings: Settings,
    path: Path,
    mapping: ImportMapping,
    *,
    rejects: Path,
    state: Path,
    restart: bool = False,
    on_progress: Callable[[int], None] = lambda done: None,
    checkpoint_every: int = 5000,
) -> ImportResult:
    """Produce the file's rows to the input topic; resume after the last acknowledged row."""
    fingerprint = _fingerprint(path)
    done = 0
    if state.exists() and not restart:
        saved = orjson.loads(state.read_bytes())
        if saved.get("file") == fingerprint:
            done = int(saved.get("rows_done", 0))
    result = ImportResult(resumed_from=done)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=20)
    mode: Literal["ab", "wb"] = "ab" if done else "wb"
    keep_extra = path.suffix.lower() != ".csv"

    def checkpoint(rows_done: int) -> None:
        producer.flush()  # every row before this point is acknowledged by Kafka
        state.write_bytes(orjson.dumps({"file": fingerprint, "rows_done": rows_done}))
        on_progress(rows_done)

    try:
        with rejects.open(mode) as bad:
            for number, row in enumerate(_rows(path), start=1):
                if number <= done:
                    continue
                result.rows += 1
                problem = _produce_row(producer, settings.topic, row, mapping, result, keep_extra)
                if problem is not None:
                    field, reason = problem
                    record = {"row": number, "field": field, "reason": reason, "record": row}
                    bad.write(orjson.dumps(record, default=str) + b"\n")
                    result.rejected += 1
                if number % checkpoint_every == 0:
                    checkpoint(number)
                    bad.flush()
            checkpoint(done + result.rows)
    finally:
        producer.close()
    return result


def _produce_row(
    producer: KafkaProducer,
    topic: str,
    row: dict[str, Any],
    mapping: ImportMapping,
    result: ImportResult,
    keep_extra: bool,
) -> tuple[str, str] | None:
    if "__error__" in row:
        return "", str(row["__error__"])
    try:
        raw = orjson.dumps(row_event(row, mapping, keep_extra=keep_extra))
        event = parse_event(raw)
    except Skip:
        result.skipped += 1
        return None
    except InvalidEvent as exc:
        return exc.field, exc.reason
    producer.send(topic, key=event.rep_id.encode(), value=raw)
    result.produced += 1
    return None
