"""The leader's timer for Slack boards: ``boards:`` and each team's default board.

Only the leader worker runs it (``on_leader=True``), so several workers never
post the same board twice. A live board's message is edited in place; a
scheduled one is posted when its cron fired since the last look.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import faust
from redis.exceptions import RedisError
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from agents.runtime import Runtime
from notifications.boards import sync_board
from notifications.ratelimit import UpdateBudget
from notifications.slack import make_client
from spm_stream.ranking.boards import BoardSpec, all_boards
from spm_stream.time.cron import Cron, last_fire

__all__ = ["refresh_boards", "register"]

log = logging.getLogger("spm_stream.agents.boards")


def register(app: faust.App, rt: Runtime) -> None:
    """Schedule the board refresh when a Slack token and some board are configured."""
    interval = rt.settings.leaderboard_interval_s
    channels = {t: team.channel for t, team in rt.directory.teams.items()}
    boards = all_boards(channels, rt.directory.boards)
    if interval <= 0 or not boards or rt.settings.slack_token is None:
        log.info("live Slack leaderboards off (interval, channels or token missing)")
        return
    client = make_client(rt.settings)
    budget = UpdateBudget()

    @app.timer(interval, on_leader=True, name="live-leaderboards")
    async def on_tick() -> None:
        await refresh_boards(rt, client, boards, datetime.now(UTC), budget)


async def refresh_boards(
    rt: Runtime,
    client: AsyncWebClient,
    boards: Sequence[BoardSpec],
    now: datetime,
    budget: UpdateBudget | None = None,
) -> None:
    """Live boards kept current within the workspace's ``chat.update`` budget; scheduled
    ones posted when their cron fired. One board's failure does not stop the others; the
    next tick retries it. Boards take turns: each tick starts one board further on, so a
    spent budget never holds back the same boards twice."""
    zone = rt.directory.zone()
    targets = rt.targets.current()
    start = (int(now.timestamp()) // max(1, int(rt.settings.leaderboard_interval_s))) % max(
        1, len(boards)
    )
    for spec in [*boards[start:], *boards[:start]]:
        try:
            if spec.is_live:
                outcome = await sync_board(
                    rt.store, client, rt.directory, spec, now=now, targets=targets, budget=budget
                )
                log.debug("board %s: %s", spec.key, outcome)
            if spec.schedule is not None:
                last = await rt.store.swap_checked(f"board:{spec.key}", now.timestamp())
                # The first look only starts the clock: a restart does not repost.
                since = datetime.fromtimestamp(last, UTC) if last is not None else now
                if last_fire(Cron.parse(spec.schedule), since, now, zone) is not None:
                    await sync_board(
                        rt.store,
                        client,
                        rt.directory,
                        spec,
                        now=now,
                        new_message=True,
                        targets=targets,
                    )
                    log.info("scheduled board posted to %s", spec.channel)
        except (SlackClientError, RedisError, OSError) as exc:
            log.error("board %s failed: %r", spec.key, exc)
