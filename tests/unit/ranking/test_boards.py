"""Configured Slack boards: live or on a schedule, and which teams keep the default board."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spm_stream.ranking.boards import BoardSpec, all_boards


def test_a_scheduled_board_posts_only_on_its_schedule_unless_live() -> None:
    assert BoardSpec(channel="#live").is_live
    assert not BoardSpec(channel="#friday", schedule="0 17 * * 5").is_live
    assert BoardSpec(channel="#both", schedule="0 17 * * 5", live=True).is_live
    with pytest.raises(ValidationError, match="a board needs live: true or a schedule"):
        BoardSpec(channel="#none", live=False)


def test_a_configured_team_board_replaces_the_default_one() -> None:
    channels = {"t1": "#t1", "t2": "#t2", "t3": None}
    specs = [BoardSpec(channel="#t1", team="t1", period="week"), BoardSpec(channel="#org")]
    assert all_boards(channels, specs) == [*specs, BoardSpec(channel="#t2", team="t2")]
    default = all_boards(channels, specs)[-1]
    assert (default.metric, default.period, default.is_live) == ("calls", "day", True)
