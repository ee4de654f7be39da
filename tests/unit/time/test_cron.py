"""Cron expressions for scheduled board posts, and the boards: config."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from spm_stream.config.directory import Directory
from spm_stream.time.cron import Cron, last_fire

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def test_weekday_afternoons_in_local_time_across_dst() -> None:
    cron = Cron.parse("0 17 * * 1-5")
    assert cron.matches(at("2026-11-23T17:00"))  # Monday
    assert not cron.matches(at("2026-11-22T17:00"))  # Sunday
    assert not cron.matches(at("2026-11-23T17:01"))
    # Friday 23 Oct 2026 and Monday 26 Oct (after Berlin left DST): 17:00 local both times.
    assert last_fire(cron, at("2026-10-23T18:00"), at("2026-10-26T18:00"), BERLIN) == at(
        "2026-10-26T17:00"
    )
    assert last_fire(cron, at("2026-10-24T00:00"), at("2026-10-26T16:59"), BERLIN) is None


def test_lists_steps_and_either_day_field() -> None:
    cron = Cron.parse("*/15 9-17/4 1,15 * 5")
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == {9, 13, 17}
    assert cron.matches(at("2026-11-15T13:30"))  # the 15th (a Sunday)
    assert cron.matches(at("2026-11-20T09:45"))  # a Friday
    assert not cron.matches(at("2026-11-19T09:45"))
    assert Cron.parse("0 9 * * 7").matches(at("2026-11-22T09:00"))  # 7 is Sunday too


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("0 17 * *", "five fields"),
        ("60 17 * * *", "minute: '60' is outside 0-59"),
        ("0 17 * * mon", "day of week: cannot read 'mon'"),
        ("0 */0 * * *", "hour: bad step"),
    ],
)
def test_bad_cron_names_the_field(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Cron.parse(text)


def test_board_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError, match=r"boards\.0\.schedule"):
        Directory.model_validate({"boards": [{"channel": "#sales", "schedule": "every friday"}]})
    with pytest.raises(ValidationError, match=r"boards\.0\.team: unknown team 'nope'"):
        Directory.model_validate({"boards": [{"channel": "#sales", "team": "nope"}]})
    with pytest.raises(ValidationError, match="live: true or a schedule"):
        Directory.model_validate({"boards": [{"channel": "#sales", "live": False}]})
