"""The CLI explains itself and refuses bad configuration before touching any service."""

from __future__ import annotations

from pathlib import Path

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
    ["preview"],
    ["silence", "add"],
    ["silence", "list"],
    ["silence", "remove"],
    ["notifications", "log"],
    ["progress"],
    ["contest", "create"],
    ["contest", "list"],
    ["contest", "standings"],
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


def test_preview_renders_a_kind_in_a_locale() -> None:
    result = CliRunner().invoke(cli, ["preview", "no_show_manager", "--locale", "de"])
    assert result.exit_code == 0, result.output
    assert "Nicht neu terminierter No-Show" in result.output


def test_preview_of_an_unknown_kind_names_the_known_ones() -> None:
    result = CliRunner().invoke(cli, ["preview", "nope"])
    assert result.exit_code == 2
    assert "known: back_on_pace" in result.output


def test_a_broken_template_override_fails_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "digest.json.j2").write_text('{"text": {{ a.nope | tojson }}, "blocks": []}')
    monkeypatch.setenv("SPM_TEMPLATES_DIR", str(tmp_path))
    monkeypatch.setenv("SPM_REDIS_URL", "redis://127.0.0.1:1/0")  # checked before any connection
    for command in (["config", "check"], ["worker"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2
        assert "template 'digest' (en)" in result.output


def test_config_check_warns_about_people_slack_cannot_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "people.yaml"
    config.write_text(
        "teams: {t1: {manager: mgr}}\npeople: {mgr: {slack_id: U0MGR}, rep-1: {team: t1}}\n"
    )
    monkeypatch.setenv("SPM_CONFIG", str(config))
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "people.rep-1.slack_id: not set" in result.output


def test_silence_needs_a_matcher() -> None:
    result = CliRunner().invoke(cli, ["silence", "add", "--for", "1h"])
    assert result.exit_code == 2
    assert "give --rule, --rep or both" in result.output


PEOPLE = "teams: {t1: {name: T}}\npeople: {rep-1: {team: t1}}\n"


@pytest.mark.parametrize(
    ("targets", "named"),
    [
        ("defaults: {meetings: {day: 5}}", "meetings: unknown metric"),
        ("defaults: {calls: {dayy: 50}}", "calls.dayy: unknown period"),
        ("defaults: {quota: {month: {EUX: 100}}}", "quota.month.EUX: unknown ISO 4217"),
        ("defaults: {calls: {day: fifty}}", "calls.day: expected a positive number, got 'fifty'"),
        ("defaults: {reach_rate: high}", "defaults.reach_rate"),
        ("reps: {rep-9: {calls: {day: 50}}}", "reps.rep-9: unknown rep"),
        ("teams: {t9: {calls: {day: 50}}}", "teams.t9: unknown team"),
        ("reps: {rep-1: {calls: {day: 5}}, rep-1: {calls: {day: 6}}}", "duplicate key 'rep-1'"),
    ],
)
def test_config_check_validates_the_targets_file(
    targets: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "people.yaml").write_text(PEOPLE, encoding="utf-8")
    (tmp_path / "targets.yaml").write_text(targets + "\n", encoding="utf-8")
    monkeypatch.setenv("SPM_CONFIG", str(tmp_path / "people.yaml"))
    monkeypatch.setenv("SPM_TARGETS", str(tmp_path / "targets.yaml"))
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "SPM_TARGETS" in result.output
    assert "Usage:" not in result.output  # one line: what to fix, not how to type the command
    assert len(result.output.strip().splitlines()) == 1


def test_config_check_names_a_missing_targets_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPM_TARGETS", str(tmp_path / "nope.yaml"))
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 2
    assert "SPM_TARGETS" in result.output
    assert "nope.yaml: cannot read: No such file or directory" in result.output


def test_duplicate_keys_in_the_people_file_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "people.yaml"
    config.write_text("people:\n  rep-1: {name: Ana}\n  rep-1: {name: Ben}\n", encoding="utf-8")
    monkeypatch.setenv("SPM_CONFIG", str(config))
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 2
    assert "line 3: duplicate key 'rep-1'" in result.output


def test_config_check_warns_about_an_empty_people_file_and_unknown_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "people.yaml"
    config.write_text("# to be filled in\n", encoding="utf-8")
    monkeypatch.setenv("SPM_CONFIG", str(config))
    monkeypatch.setenv("SPM_KAFKA_UR", "kafka://typo:9092")
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "SPM_KAFKA_UR: unknown variable, ignored (did you mean SPM_KAFKA_URL?)" in result.output
    assert "has no teams and no people" in result.output


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("command", "service"),
    [
        (["generate", "--days", "1", "--teams", "1", "--reps-per-team", "1"], "Kafka"),
        (["import", "examples/crm/pipedrive-call-v1.json"], "Kafka"),
        (["kpis", "--scope", "org"], "Redis"),
        (["leaderboard", "--scope", "org"], "Redis"),
        (["worker"], "Kafka"),
        (["demo", "--duration", "5"], "Kafka"),
        (["dlq", "list"], "Kafka"),
        (["topics", "create"], "Kafka"),
        (["silence", "list"], "Redis"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v[:2]),
)
def test_a_service_that_is_down_is_one_line_naming_where(
    command: list[str], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    kafka, redis = _closed_port(), _closed_port()
    monkeypatch.setenv("SPM_KAFKA_URL", f"kafka://127.0.0.1:{kafka}")
    monkeypatch.setenv("SPM_REDIS_URL", f"redis://127.0.0.1:{redis}/0")
    started = time.monotonic()
    result = CliRunner().invoke(cli, command)
    assert time.monotonic() - started < 5
    assert result.exit_code == 69, result.output
    (line,) = result.output.strip().splitlines()
    port = kafka if service == "Kafka" else redis
    assert f"{service} does not answer at 127.0.0.1:{port}" in line
    assert "connection refused" in line


def test_something_else_on_the_port_is_not_taken_for_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_http() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer_http, daemon=True).start()
    monkeypatch.setenv("SPM_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    result = CliRunner().invoke(cli, ["kpis", "--scope", "org"])
    server.close()
    assert result.exit_code == 69
    assert "something answers there, but not this service" in result.output


def test_preview_help_lists_every_template() -> None:
    templates = Path(__file__).parents[3] / "notifications" / "templates"
    kinds = sorted(p.name.removesuffix(".json.j2") for p in templates.glob("*.json.j2"))
    shown = " ".join(CliRunner().invoke(cli, ["preview", "--help"]).output.split())
    for kind in kinds:
        assert kind in shown
    assert "Without a shipped sample (leaderboard)" in shown
