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


def test_a_public_board_needs_a_channel_and_a_private_one_none() -> None:
    from spm_stream.config.directory import Directory

    with pytest.raises(
        ValidationError, match=r"boards\.0\.channel: a public board needs a channel"
    ):
        Directory.model_validate({"boards": [{"metric": "calls"}]})
    private = Directory.model_validate({"boards": [{"metric": "calls", "visibility": "private"}]})
    assert private.visibility(private.boards[0]) == "private"
    by_default = Directory.model_validate(
        {"privacy": {"boards": "private"}, "boards": [{"metric": "calls"}]}
    )
    assert by_default.visibility(by_default.boards[0]) == "private"
    with pytest.raises(ValidationError, match="score needs scorecards"):
        Directory.model_validate({"boards": [{"channel": "#s", "metric": "score"}]})
    with pytest.raises(ValidationError, match="'deals_won' takes no target"):
        BoardSpec(channel="#s", metric="deals_won", rank_by="attainment")
