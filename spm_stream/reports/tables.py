"""Terminal tables of KPI reports (rich): one column per scope, one row per KPI.

Values read as people say them: rates with one decimal and "%", money with two
decimals and its currency, counts as whole numbers, a period with its last day
(``end`` in the JSON is exclusive), scopes by name. Tables are split so that
they fit the terminal, 80 columns when piped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any, Final

from rich.table import Table

from spm_stream.metrics.table import KPI_KEYS, MONEY_KPIS, PERCENT_KPIS

__all__ = [
    "board_value",
    "format_kpi",
    "format_value",
    "kpi_tables",
    "period_label",
]

_KPI_WIDTH: Final = 22  # the first column: the longest KPI name
_COLUMN_WIDTH: Final = 16  # a scope's column, with rich's padding and borders


def format_value(value: Any) -> str:
    """A value for humans: '-' for no data, counts whole, others to 0.1."""
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


def format_kpi(key: str, value: Any) -> str:
    """A KPI as people read it: "34.5%", "EUR 0.7%" (quota attainment), "EUR 7,500.00"."""
    if value is None or value == {}:
        return "-"
    if key == "revenue_by_product" and isinstance(value, dict):
        return "; ".join(
            f"{product}: {format_kpi('total_revenue', amounts)}"
            for product, amounts in value.items()
        )
    if key == "funnel" and isinstance(value, dict):
        return ", ".join(f"{k} {format_kpi(k, v)}" for k, v in value.items() if v is not None)
    if key in PERCENT_KPIS:
        if isinstance(value, dict):
            return "; ".join(f"{cur} {v:,.1f}%" for cur, v in value.items())
        return f"{value:,.1f}%"
    if key in MONEY_KPIS and isinstance(value, dict):
        return "; ".join(f"{cur} {v:,.2f}" for cur, v in value.items())
    return format_value(value)


def board_value(metric: str, value: float, rank_by: str = "value") -> str:
    """A leaderboard score: "34.5%" for a rate or a share of target, "EUR 1,200.00" for
    revenue, "+5" for an improvement, else a count."""
    if rank_by == "improvement":
        return ("+" if value > 0 else "") + board_value(metric, value)
    if rank_by == "attainment" or metric in PERCENT_KPIS:
        return f"{value:,.1f}%"
    if metric.startswith("revenue:"):
        return f"{metric.partition(':')[2]} {value:,.2f}"
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def period_label(period: dict[str, Any]) -> str:
    """ "month 2026-11-01 to 2026-11-30": the last day shown, not the exclusive end."""
    first = date.fromisoformat(period["start"][:10])
    last = date.fromisoformat(period["end"][:10]) - timedelta(days=1)
    return f"{period['kind']} {first} to {max(first, last)}"


def kpi_tables(
    reports: list[dict[str, Any]],
    *,
    name_of: Callable[[str, str], str] | None = None,
    width: int = 80,
) -> Iterator[Table]:
    """Tables of as many scopes side by side as ``width`` columns hold."""
    per_table = max(1, (width - _KPI_WIDTH) // _COLUMN_WIDTH)
    for i in range(0, len(reports), per_table):
        chunk = reports[i : i + per_table]
        table = Table(title=period_label(chunk[0]["period"]))
        table.add_column("KPI", no_wrap=True)
        for rep in chunk:
            shown = name_of(rep["scope"], rep["id"]) if name_of else rep["id"]
            table.add_column(f"{rep['scope']}: {shown}", overflow="fold")
        for key in KPI_KEYS:
            table.add_row(key, *(format_kpi(key, rep["kpis"][key]) for rep in chunk))
        yield table
