"""KPI formulas, the worked examples of the seeds (offline), and invariance properties."""

from __future__ import annotations

import json
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from spm_stream.cli import cli
from spm_stream.config.scopes import Routing
from spm_stream.config.targets import Targets
from spm_stream.metrics.kpis import compute_kpis, ramp_days, rate
from spm_stream.metrics.table import KPI_KEYS
from spm_stream.reports.report import fold, offline_report
from tests.golden import AT, TARGETS, TARGETS_YAML, UTC_ROUTING, Golden, goldens, offline_one


def _approx(value: object) -> object:
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-12)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    return value


def _report_for(golden: Golden, events: list[bytes]) -> dict:
    return offline_one(fold(events, UTC_ROUTING), golden.scope, golden.id, golden.period)


@pytest.mark.parametrize("golden", goldens(), ids=lambda g: g.name)
def test_worked_examples_offline(golden: Golden) -> None:
    all_events = [e for g in goldens() for e in g.events]
    report = _report_for(golden, all_events)
    for key, value in golden.expected.items():
        assert report["kpis"][key] == _approx(value), f"{golden.source}: {key}"


def test_report_object_shape() -> None:
    golden = goldens()[0]
    report = _report_for(golden, golden.events)
    assert set(report) == {"scope", "id", "period", "kpis", "targets"}
    assert list(report["kpis"]) == list(KPI_KEYS)
    assert report["period"] == {
        "kind": "month",
        "start": "2026-11-01T00:00:00+00:00",
        "end": "2026-12-01T00:00:00+00:00",
    }
    # The shipped defaults are seed 001's outbound benchmarks.
    assert report["targets"] == {"reach_rate": 40, "success_rate": 11, "pipe_rate": 73}


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [(40, 100, 40.0), (0, 5, 0.0), (0, 0, None), (3, 0, None), (36, 100, 36.0)],
)
def test_rate(numerator: int, denominator: int, expected: float | None) -> None:
    assert rate(numerator, denominator) == expected


def test_money_is_never_added_across_currencies() -> None:
    kpis = compute_kpis(
        {
            "deal.won": 2,
            "won|USD": 1,
            "won|EUR": 1,
            "rev|USD": 10_000_000,
            "rev|EUR": 5_000_000,
            "revp|EUR|x": 5_000_000,
            "revp|USD|x": 10_000_000,
        },
        quota={"USD": 2000.0, "GBP": 100.0},
    )
    assert kpis["total_revenue"] == {"EUR": 500.0, "USD": 1000.0}
    assert kpis["revenue_by_product"] == {"x": {"EUR": 500.0, "USD": 1000.0}}
    assert kpis["avg_deal_size"] == {"EUR": 500.0, "USD": 1000.0}
    assert kpis["quota_attainment"] == {"USD": 50.0, "GBP": 0.0}


def test_ramp_ignores_wins_after_the_period_and_before_the_hire() -> None:
    hired = {"a": 0, "b": 0, "c": 10 * 86_400}
    first_win = {"a": 10 * 86_400, "b": 100 * 86_400, "c": 0}
    assert ramp_days(hired, first_win, ["a", "b", "c"], until=50 * 86_400) == 10.0
    assert ramp_days(hired, first_win, ["a", "b"], until=200 * 86_400) == 55.0
    assert ramp_days(hired, first_win, ["z"], until=200 * 86_400) is None


def test_invalid_lines_are_counted_not_fatal() -> None:
    ledger = fold(
        [
            b"{",
            b"",
            b'{"event_id":"x","type":"activity.call",'
            b'"occurred_at":"2026-11-02T10:00:00Z","rep_id":"r"}',
        ],
        UTC_ROUTING,
    )
    assert (ledger.counted, ledger.rejected) == (1, 1)
    assert ledger.reasons == {"(event)": 1}


def test_late_events_land_in_their_own_period() -> None:
    g = Golden("late", "", "late", {})
    g.add(3, "activity.call", at="2026-11-02T10:00:00Z")
    g.add(2, "activity.call", at="2026-10-30T10:00:00Z")  # arrives last, belongs to October
    ledger = fold(g.events, UTC_ROUTING)
    for at, calls in ((AT, 3), (AT.replace(month=10, day=30), 2)):
        (r,) = offline_report(
            ledger,
            kind="month",
            at=at,
            routing=UTC_ROUTING,
            targets=Targets(),
            scope="team",
            scope_id="late",
        )
        assert r["kpis"]["calls"] == calls


def test_rep_days_follow_the_reps_zone() -> None:
    routing = Routing(ZoneInfo("UTC"), rep_zones={"late-a": ZoneInfo("Asia/Shanghai")})
    g = Golden("tz", "", "late", {})
    g.add(1, "activity.call", at="2026-10-31T20:00:00Z")  # 1 Nov, 04:00 in Shanghai
    ledger = fold(g.events, routing)
    (rep,) = offline_report(
        ledger,
        kind="month",
        at=AT,
        routing=routing,
        targets=Targets(),
        scope="rep",
        scope_id="late-a",
    )
    (team,) = offline_report(
        ledger,
        kind="month",
        at=AT,
        routing=routing,
        targets=Targets(),
        scope="team",
        scope_id="late",
    )
    assert (rep["kpis"]["calls"], team["kpis"]["calls"]) == (1, 0)
    assert rep["period"]["start"] == "2026-11-01T00:00:00+08:00"


_POOL = [e for g in goldens()[:12] for e in g.events[:15]]


@given(
    st.lists(st.sampled_from(range(len(_POOL))), min_size=1, max_size=60, unique=True),
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 59), max_size=10),
)
def test_permuting_and_duplicating_events_changes_no_kpi(
    picked: list[int], rng: random.Random, dups: list[int]
) -> None:
    events = [_POOL[i] for i in picked]
    baseline = offline_report(
        fold(events, UTC_ROUTING), kind="month", at=AT, routing=UTC_ROUTING, targets=TARGETS
    )
    shuffled = events + [events[i % len(events)] for i in dups]
    rng.shuffle(shuffled)
    again = offline_report(
        fold(shuffled, UTC_ROUTING), kind="month", at=AT, routing=UTC_ROUTING, targets=TARGETS
    )
    assert again == baseline


def test_report_cli_matches_the_library(tmp_path: Path) -> None:
    events = [e for g in goldens() for e in g.events]
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(events) + b"\n{broken\n")
    targets = tmp_path / "targets.yaml"
    targets.write_text(TARGETS_YAML, encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "report",
            "--events",
            str(file),
            "--period",
            "month",
            "--at",
            "2026-11-02",
            "--targets",
            str(targets),
            "--scope",
            "team",
            "--id",
            "g-quota",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == offline_report(
        fold(events, UTC_ROUTING),
        kind="month",
        at=AT,
        routing=UTC_ROUTING,
        targets=TARGETS,
        scope="team",
        scope_id="g-quota",
    )
    assert "1 invalid lines skipped" in result.stderr


def test_report_cli_table_and_bad_zone(tmp_path: Path) -> None:
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"\n".join(goldens()[0].events))
    week = ["report", "--events", str(file), "--period", "week", "--at", "2026-11-02"]
    table = CliRunner().invoke(cli, [*week, "--format", "table"])
    assert table.exit_code == 0, table.output
    assert "reach_rate" in table.stdout
    assert "40.0" in table.stdout
    bad = CliRunner().invoke(
        cli,
        [*week, "--tz", "Mars/Base"],
    )
    assert bad.exit_code == 2
    assert "unknown time zone 'Mars/Base'" in bad.output
