"""Terminal tables of KPI reports (rich): one column per scope, one row per KPI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.table import Table

from spm_stream.kpis import KPI_KEYS

__all__ = ["format_value", "kpi_tables"]

_COLUMNS_PER_TABLE = 5


def format_value(value: Any) -> str:
    """A KPI value for humans: '-' for no data, money per currency, rates to 0.1."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        if not value:
            return "-"
        return "; ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return str(value)


def kpi_tables(reports: list[dict[str, Any]]) -> Iterator[Table]:
    """Tables of up to five scopes side by side."""
    for i in range(0, len(reports), _COLUMNS_PER_TABLE):
        chunk = reports[i : i + _COLUMNS_PER_TABLE]
        period = chunk[0]["period"]
        table = Table(title=f"{period['kind']} {period['start'][:10]} to {period['end'][:10]}")
        table.add_column("KPI")
        for rep in chunk:
            table.add_column(f"{rep['scope']} {rep['id']}", overflow="fold")
        for key in KPI_KEYS:
            table.add_row(key, *(format_value(rep["kpis"][key]) for rep in chunk))
        yield table
