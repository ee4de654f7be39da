"""Settings and the people directory fail at start-up with the bad key named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from spm_stream.config.directory import load_directory
from spm_stream.config.settings import ConfigError, Settings, load_settings, redact_url
from tests.fixtures import written


def test_defaults_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SPM_KAFKA_URL", "SPM_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.topic == "crm-events"
    assert settings.kafka_url is None


def test_kafka_url_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPM_KAFKA_URL", "kafka://a:9092, b:9093")
    assert load_settings().bootstrap_servers == ["a:9092", "b:9093"]


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("SPM_PARTITIONS", "zero", "SPM_PARTITIONS"),
        ("SPM_PARTITIONS", "0", "SPM_PARTITIONS"),
        ("SPM_KAFKA_URL", "localhost", "SPM_KAFKA_URL"),
        ("SPM_REDIS_URL", "http://x", "SPM_REDIS_URL"),
        ("SPM_LOG_LEVEL", "loud", "SPM_LOG_LEVEL"),
        ("SPM_SLACK_BASE_URL", "slack.local", "SPM_SLACK_BASE_URL"),
    ],
)
def test_bad_env_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_missing_broker_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPM_KAFKA_URL", raising=False)
    with pytest.raises(ConfigError, match="SPM_KAFKA_URL"):
        _ = load_settings().bootstrap_servers


def test_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPM_SLACK_TOKEN", "xoxb-secret")
    dumped = load_settings().redacted()
    assert dumped["slack_token"] == "***"
    assert "xoxb-secret" not in str(dumped)


GOOD = """
timezone: Europe/Berlin
teams:
  emea-smb: {name: EMEA SMB, channel: "#emea-smb", manager: mgr-1}
people:
  mgr-1: {name: Mia, slack_id: U0MGR1}
  rep-17: {name: Ana, slack_id: U0REP17, team: emea-smb, manager: mgr-1,
           timezone: Europe/Vienna, locale: de}
"""


def test_directory_loads(tmp_path: Path) -> None:
    directory = load_directory(written(tmp_path / "spm.yaml", GOOD))
    assert directory.team_of("rep-17") == "emea-smb"
    assert directory.display_name("rep-17") == "Ana"
    assert directory.display_name("rep-99") == "rep-99"
    assert str(directory.zone()) == "Europe/Berlin"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("Europe/Vienna", "Europe/Viena"),
            "people.rep-17.timezone: unknown time zone 'Europe/Viena'",
        ),
        ("timezone: Europe/Berlin", "timezone: Mars/Base"),
        (("team: emea-smb,", "team: apac,"), "people.rep-17.team: unknown team 'apac'"),
        (("emea-smb, manager: mgr-1,", "emea-smb, manager: mgr-9,"), "people.rep-17.manager"),
        (("locale: de", "locale: fr"), "people.rep-17.locale"),
        (("slack_id: U0REP17", "slack_id: ana"), "people.rep-17.slack_id"),
        (('channel: "#emea-smb"', 'channel: "emea smb"'), "teams.emea-smb.channel"),
        (("name: Mia,", "nmae: Mia,"), "people.mgr-1.nmae"),
    ],
)
def test_directory_errors_name_the_key(tmp_path: Path, change: object, message: str) -> None:
    if isinstance(change, tuple):
        text = GOOD.replace(*change)
    else:
        text = GOOD.replace(change, message)
        message = "timezone: unknown time zone 'Mars/Base'"
    with pytest.raises(ConfigError) as caught:
        load_directory(written(tmp_path / "spm.yaml", text))
    assert message in str(caught.value)
    assert str(tmp_path / "spm.yaml") in str(caught.value)


def test_directory_rejects_broken_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_directory(written(tmp_path / "spm.yaml", "people: [unclosed"))


def test_no_file_means_empty_directory_in_utc() -> None:
    assert str(load_directory(None).zone()) == "UTC"


def test_as_env_round_trips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings(
        kafka_url="kafka://a:1",
        redis_url="redis://r:2/0",
        slack_token="xoxb-s",
        config=tmp_path / "p.yaml",
        partitions=8,
        faust_event_stats=True,
        leaderboard_interval_s=2.5,
    )
    for name in list(os.environ):
        if name.startswith("SPM_"):
            monkeypatch.delenv(name)
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    assert load_settings() == settings
    assert settings.as_env()["SPM_SLACK_TOKEN"] == "xoxb-s"  # children need the real secret


def test_webhook_secrets_are_checked_and_never_shown() -> None:
    with pytest.raises(ConfigError, match=r"SPM_CLOSE_SIGNATURE_KEY: .*hex signature_key"):
        load_settings(close_signature_key="not-hex")
    with pytest.raises(ConfigError, match=r"SPM_PIPEDRIVE_BASIC_AUTH: .*USER:PASSWORD"):
        load_settings(pipedrive_basic_auth="nopassword")
    with pytest.raises(ConfigError, match="SPM_PUBLIC_URL"):
        load_settings(public_url="spm.example.com")
    settings = load_settings(
        close_signature_key="ab12", hubspot_client_secret="s", public_url="https://x.example/"
    )
    assert settings.public_url == "https://x.example"
    assert settings.redacted()["hubspot_client_secret"] == "***"
    assert settings.redacted()["close_signature_key"] == "***"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
        (
            "rediss://default:p@ss:w@r.d@cache.example:6380",
            "rediss://default:***@cache.example:6380",
        ),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("redis://user@redis:6379/0", "redis://user@redis:6379/0"),
    ],
)
def test_passwords_in_urls_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    dumped = json.dumps(Settings(redis_url=url).redacted())
    assert shown in dumped
    assert "hunter2" not in dumped


def test_a_rep_whose_role_has_no_scorecard_is_warned_about(tmp_path: Path) -> None:
    from spm_stream.config.checks import check_configuration

    config = written(
        tmp_path / "spm.yaml",
        "teams: {t1: {}}\n"
        "people:\n  ana: {team: t1, role: sdr}\n  ben: {team: t1, role: ae}\n"
        "scorecards:\n  sdr: {weights: {calls: 1}}\n",
    )
    checked = check_configuration(load_settings(config=config), {})
    assert checked.warnings == [
        "people.ben.role: no scorecard 'ae' in scorecards:, so ben is not ranked on score boards"
    ]
