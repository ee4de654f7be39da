"""Targets: defaults, team and rep overrides, validation naming the key, reload on change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spm_stream.config.settings import ConfigError
from spm_stream.config.targets import ReloadingTargets, load_targets
from tests.fixtures import written

ISSUE_EXAMPLE = """
defaults:
  quota:
    month: {USD: 50000}
  reach_rate: 40
  success_rate: 11
  pipe_rate: 73
teams:
  emea-smb:
    quota:
      month: {EUR: 40000}
reps:
  rep-17:
    quota:
      month: {USD: 60000}
    calls:
      day: 50
"""


def test_resolution_rep_then_team_then_defaults(tmp_path: Path) -> None:
    targets = load_targets(written(tmp_path / "targets.yaml", ISSUE_EXAMPLE))
    assert targets.for_scope("rep", "rep-17", "month", team="emea-smb") == {
        "quota": {"USD": 60000.0},
        "reach_rate": 40,
        "success_rate": 11,
        "pipe_rate": 73,
    }
    assert targets.for_scope("rep", "rep-17", "day")["calls"] == 50
    assert targets.for_scope("rep", "rep-9", "month", team="emea-smb")["quota"] == {"EUR": 40000}
    assert targets.for_scope("rep", "rep-9", "month")["quota"] == {"USD": 50000}
    assert targets.for_scope("team", "emea-smb", "month")["quota"] == {"EUR": 40000}
    assert targets.for_scope("org", "all", "month")["quota"] == {"USD": 50000}
    assert "quota" not in targets.for_scope("org", "all", "quarter")


def test_no_file_ships_the_outbound_benchmarks() -> None:
    assert load_targets(None).for_scope("org", "all", "month") == {
        "reach_rate": 40,
        "success_rate": 11,
        "pipe_rate": 73,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reps:\n  rep-1:\n    calls: {fortnight: 5}\n", "reps.rep-1"),
        ("reps:\n  rep-1:\n    callz: {day: 5}\n", "callz: unknown metric"),
        ("defaults:\n  quota:\n    month: {XXX: 5}\n", "quota.month.XXX: unknown ISO 4217"),
        ("defaults:\n  quota:\n    month: {USD: -5}\n", "defaults.quota.month.USD"),
        ("defaults:\n  reach_rate: lots\n", "defaults.reach_rate"),
        ("team:\n  x: {}\n", "team"),
    ],
)
def test_bad_targets_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_targets(written(tmp_path / "targets.yaml", text))
    assert message in str(caught.value)


def test_reload_on_change_and_keep_last_good(tmp_path: Path) -> None:
    path = written(tmp_path / "targets.yaml", "defaults:\n  reach_rate: 40\n")
    targets = ReloadingTargets(path)
    assert targets.current().defaults.reach_rate == 40
    path.write_text("defaults:\n  reach_rate: 45\n", encoding="utf-8")
    os.utime(path, (1, 1))
    assert targets.current().defaults.reach_rate == 45
    path.write_text("defaults:\n  reach_rate: [broken\n", encoding="utf-8")
    os.utime(path, (2, 2))
    assert targets.current().defaults.reach_rate == 45
