"""Import rows: a CRM export's columns become canonical events, bad rows name their field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spm_stream.config.settings import ConfigError
from spm_stream.contract.events import InvalidEvent, parse_event
from spm_stream.ingestion.importer import ImportMapping, Skip, load_import_mapping, row_event

SAMPLES = Path(__file__).parents[3] / "examples" / "crm"


def test_canonical_csv_columns_need_no_mapping() -> None:
    row = {
        "event_id": "x-1",
        "type": "deal.won",
        "occurred_at": "2026-11-02T15:00:00Z",
        "rep_id": "rep-1",
        "data.deal_id": "D-1",
        "data.amount": "1,250.50",
        "data.currency": "EUR",
        "data.product": "premium",
        "data.list_price": "",
        "notes": "not a contract field: left out of CSV imports",
    }
    event = parse_event(__import__("orjson").dumps(row_event(row, ImportMapping())))
    assert event.data.amount == 1250.5  # type: ignore[attr-defined]
    assert "notes" not in event.model_dump()


def test_a_crm_export_with_a_mapping() -> None:
    mapping = load_import_mapping(SAMPLES / "hubspot-calls-export.yaml")
    row = {
        "Record ID": "61042318811",
        "Activity date": "2026-11-02 10:05",
        "Activity assigned to": "Ana Alvarez",
        "Call direction": "Outbound",
    }
    assert row_event(row, mapping) == {
        "event_id": "hubspot:call:61042318811:activity.call",
        "occurred_at": "2026-11-02T10:05:00+01:00",
        "rep_id": "rep-1",
        "type": "activity.call",
        "source": "hubspot",
    }
    with pytest.raises(Skip):
        row_event(row | {"Call direction": "Inbound"}, mapping)
    strict = mapping.model_copy(update={"skip_unknown_types": False})
    with pytest.raises(InvalidEvent, match="type: Call direction 'Inbound' is not in types"):
        row_event(row | {"Call direction": "Inbound"}, strict)
    with pytest.raises(InvalidEvent, match="occurred_at: not an ISO-8601"):
        row_event(row | {"Activity date": "yesterday"}, mapping)


def test_json_lines_keep_their_extra_fields_and_offsets() -> None:
    row = {
        "event_id": "e1",
        "type": "nps.response",
        "occurred_at": "2026-11-02T10:00:00-05:00",
        "rep_id": "rep-1",
        "data": {"score": 9, "survey": "q4"},
        "crm_link": "https://crm/1",
    }
    assert row_event(row, ImportMapping(timezone="Europe/Berlin"), keep_extra=True) == row


def test_mapping_errors_name_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match="timezone: unknown time zone"):
        load_import_mapping(bad)
    bad.write_text("event_id_format: '{row}'\n")
    with pytest.raises(ConfigError, match=r"event_id_format: only \{id\} and \{type\}"):
        load_import_mapping(bad)
    bad.write_text("types: {Outbound: activity.phone}\n")
    with pytest.raises(ConfigError, match=r"types\.Outbound"):
        load_import_mapping(bad)
