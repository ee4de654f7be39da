"""KPI tables for the terminal: values as people read them, periods inclusive, names, 80 columns."""

from __future__ import annotations

import io

from rich.console import Console

from spm_stream.metrics.table import KPI_KEYS
from spm_stream.reports.tables import board_value, format_kpi, kpi_tables, period_label

PERIOD = {"kind": "month", "start": "2026-11-01T00:00:00+00:00", "end": "2026-12-01T00:00:00+00:00"}


def test_rates_and_money_read_as_people_say_them() -> None:
    assert format_kpi("reach_rate", 34.4828) == "34.5%"
    assert format_kpi("quota_attainment", {"EUR": 0.7}) == "EUR 0.7%"
    assert format_kpi("total_revenue", {"EUR": 7500.0, "USD": 12.5}) == "EUR 7,500.00; USD 12.50"
    assert format_kpi("calls", 1698) == "1,698"
    assert format_kpi("win_rate", None) == "-"
    assert board_value("reach_rate", 34.4828) == "34.5%"
    assert board_value("revenue:EUR", 1200) == "EUR 1,200.00"
    assert board_value("calls", 12.0) == "12"


def test_a_period_shows_its_last_day() -> None:
    assert period_label(PERIOD) == "month 2026-11-01 to 2026-11-30"
    day = {"kind": "day", "start": "2026-11-02T00:00:00+00:00", "end": "2026-11-03T00:00:00+00:00"}
    assert period_label(day) == "day 2026-11-02 to 2026-11-02"


def test_tables_fit_80_columns_and_show_names() -> None:
    given = {"reach_rate": 34.4828, "quota_attainment": {"EUR": 0.7}, "total_revenue": {"EUR": 1e5}}
    kpis = {key: given.get(key) for key in KPI_KEYS}
    reports = [{"scope": "rep", "id": f"rep-{i}", "period": PERIOD, "kpis": kpis} for i in range(7)]
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)
    names = {f"rep-{i}": f"Rep Number {i}" for i in range(7)}
    for table in kpi_tables(reports, name_of=lambda scope, i: names[i], width=console.width):
        console.print(table)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Rep Number 6" in " ".join(text.split())
    assert "34.5%" in text
    assert "rep-3" not in text
