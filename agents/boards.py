"""The leader's timer for Slack boards: team boards and ``boards:`` (live or on a cron).

Only the leader worker runs it (``on_leader=True``), so several workers never
post the same board twice. The board message is edited in place.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust
from redis.exceptions import RedisError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from agents.app import Runtime
from notifications.boards import sync_board, sync_team_board
from notifications.slack import make_client
from spm_stream.ranking.boards import default_board_teams
from spm_stream.time.cron import Cron, last_fire

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.boards")


def register(app: faust.App, rt: Runtime) -> None:
    """Schedule the live-board refresh when a Slack token and team channels are configured."""
    interval = rt.settings.leaderboard_interval_s
    specs = rt.directory.boards
    teams = default_board_teams({t: team.channel for t, team in rt.directory.teams.items()}, specs)
    if interval <= 0 or not (teams or specs) or rt.settings.slack_token is None:
        log.info("live Slack leaderboards off (interval, channels or token missing)")
        return
    client = make_client(rt.settings)

    @app.timer(interval, on_leader=True, name="live-leaderboards")
    async def refresh_boards() -> None:
        now = datetime.now(UTC)
        await configured_boards(rt, client, now)
        for team_id in teams:
            try:
                outcome = await sync_team_board(rt.store, client, rt.directory, team_id, now=now)
            except (SlackApiError, RedisError, OSError) as exc:
                # One team's failure must not stop the others; the next tick retries.
                log.error("leaderboard sync failed for team %s: %r", team_id, exc)
                continue
            log.debug("leaderboard %s: %s", team_id, outcome)


async def configured_boards(rt: Runtime, client: AsyncWebClient, now: datetime) -> None:
    """Live boards of ``boards:`` kept current; scheduled ones posted when their cron fired."""
    zone = rt.directory.zone()
    for spec in rt.directory.boards:
        try:
            if spec.is_live:
                await sync_board(rt.store, client, rt.directory, spec, now=now)
            if spec.schedule is not None:
                last = await rt.store.swap_checked(f"board:{spec.key}", now.timestamp())
                # The first look only starts the clock: a restart does not repost.
                since = datetime.fromtimestamp(last, UTC) if last is not None else now
                if last_fire(Cron.parse(spec.schedule), since, now, zone) is not None:
                    await sync_board(
                        rt.store, client, rt.directory, spec, now=now, new_message=True
                    )
                    log.info("scheduled board posted to %s", spec.channel)
        except (SlackClientError, RedisError, OSError) as exc:
            log.error("board %s failed: %r", spec.key, exc)
