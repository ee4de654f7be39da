"""The leader's timer that keeps every team's live Slack leaderboard current.

Only the leader worker runs it (``on_leader=True``), so several workers never
post the same board twice. The board message is edited in place.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError

from agents.app import Runtime
from notifications.boards import sync_team_board
from notifications.slack import make_client

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.boards")


def register(app: faust.App, rt: Runtime) -> None:
    """Schedule the live-board refresh when a Slack token and team channels are configured."""
    interval = rt.settings.leaderboard_interval_s
    teams = [tid for tid, team in rt.directory.teams.items() if team.channel]
    if interval <= 0 or not teams or rt.settings.slack_token is None:
        log.info("live Slack leaderboards off (interval, team channels or token missing)")
        return
    client = make_client(rt.settings)

    @app.timer(interval, on_leader=True, name="live-leaderboards")
    async def refresh_boards() -> None:
        now = datetime.now(UTC)
        for team_id in teams:
            try:
                outcome = await sync_team_board(rt.store, client, rt.directory, team_id, now=now)
            except (SlackApiError, RedisError, OSError) as exc:
                # One team's failure must not stop the others; the next tick retries.
                log.error("leaderboard sync failed for team %s: %r", team_id, exc)
                continue
            log.debug("leaderboard %s: %s", team_id, outcome)
