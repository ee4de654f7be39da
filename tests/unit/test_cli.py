"""The CLI explains itself and refuses bad configuration before touching any service."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from spm_stream.cli import cli

COMMANDS = [
    ["worker"],
    ["replay"],
    ["leaderboard"],
    ["post-leaderboard"],
    ["slack-server"],
    ["demo"],
    ["topics", "create"],
    ["config", "check"],
    ["schema"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    # The first docstring line is a real explanation, not a stub.
    assert len(result.output.split("Options:")[0].strip().splitlines()) >= 3


@pytest.mark.parametrize("command", [["worker"], ["config", "check"], ["leaderboard"]])
def test_bad_setting_fails_fast_naming_the_variable(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPM_PARTITIONS", "many")
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 2
    assert "SPM_PARTITIONS" in result.output


def test_worker_without_redis_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPM_KAFKA_URL", "kafka://127.0.0.1:1")
    monkeypatch.delenv("SPM_REDIS_URL", raising=False)
    result = CliRunner().invoke(cli, ["worker"])
    assert result.exit_code == 2
    assert "SPM_REDIS_URL is not set" in result.output


def test_bad_people_file_fails_fast(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "spm.yaml"
    config.write_text("people:\n  rep-1: {team: nowhere}\n", encoding="utf-8")
    monkeypatch.setenv("SPM_CONFIG", str(config))
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 2
    assert "people.rep-1.team: unknown team 'nowhere'" in result.output
