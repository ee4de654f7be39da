"""Leaderboards in Slack: one message per board and period, kept current, or posted fresh.

``sync_board`` ranks the board (``spm_stream.reports.query.live_board``, the one
ranking path), skips Slack when nothing changed (digest of the rows), and
otherwise edits the period's message in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Final, Literal

from slack_sdk.web.async_client import AsyncWebClient

from notifications.charts import bar_chart
from notifications.ratelimit import UpdateBudget
from notifications.render import Message, labels, local_number, render
from notifications.slack import post_or_update
from spm_stream.config.directory import Directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import Targets
from spm_stream.metrics.table import PERCENT_KPIS
from spm_stream.ranking.boards import BoardSpec
from spm_stream.ranking.leaderboards import Row
from spm_stream.ranking.privacy import moved_up, shared_rows
from spm_stream.reports.query import BoardContext, BoardQuery, board_rows
from spm_stream.store.redis_store import Store

__all__ = ["SyncOutcome", "board_message", "sync_board"]

SyncOutcome = Literal["posted", "updated", "unchanged", "deferred", "no-channel"]


def board_message(
    entries: Sequence[Row],
    *,
    directory: Directory,
    team_id: str,
    metric: str,
    period_label: str,
    updated: str,
    locale: str,
    rank_by: str = "value",
) -> Message:
    """Render a board for Slack (pure)."""
    team = directory.teams.get(team_id)
    team_name = team.name if team and team.name else team_id
    names = {**labels(locale)["metrics"], **labels(locale).get("metrics_extra", {})}
    metric_label = names.get(metric, metric)
    t = labels(locale)
    if rank_by != "value":
        metric_label = f"{metric_label} ({t[f'rank_by_{rank_by}']})"
    rows = [
        {
            "rank": e.rank,
            "name": directory.display_name(e.rep_id),
            "score": score(metric, e.value, t, rank_by),
        }
        for e in entries
    ]
    return render(
        "leaderboard",
        locale,
        {
            "board_title": f"{metric_label} · {team_name}",
            "period_label": period_label,
            "rows": rows,
            "updated": updated,
            "empty": not rows,
        },
    )


def score(metric: str, value: float, t: dict[str, Any], rank_by: str = "value") -> str:
    """A board score in the locale: "34,5 %" for a rate, "1.200 EUR" for revenue, "12" calls;
    a share of target "87 %", a scorecard "87", an improvement "+5"."""
    shown = local_number(abs(value) if rank_by == "improvement" else value, t)
    if rank_by == "attainment" or (metric in PERCENT_KPIS and rank_by == "value"):
        shown = str(t["percent"]).format(n=shown)
    elif metric.startswith("revenue:"):
        shown = f"{shown} {metric.partition(':')[2]}"
    if rank_by == "improvement":
        sign = "+" if value > 0 else ("\N{MINUS SIGN}" if value < 0 else "\N{PLUS-MINUS SIGN}")
        return f"{sign}{shown}"
    return shown


_TO: Final = " \N{EN DASH} "


def period_text(t: dict[str, Any], kind: str, first: date, last: date) -> str:
    """One way to name a board's period on every board: "Today · 2026-11-02",
    "This week · 2026-11-30 to 2026-12-06" with an en dash (the last day, not the exclusive
    end)."""
    name = t.get(f"period_{kind}", kind)
    return f"{name} · {first}" if first == last else f"{name} · {first}{_TO}{last}"


def _digest(entries: Sequence[Row]) -> str:
    text = "|".join(f"{e.rep_id}={e.value:g}" for e in entries)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def sync_board(
    store: Store,
    client: AsyncWebClient,
    directory: Directory,
    spec: BoardSpec,
    *,
    now: datetime,
    new_message: bool = False,
    force: bool = False,
    targets: Targets | None = None,
    budget: UpdateBudget | None = None,
) -> SyncOutcome:
    """Bring a public board's message for the current period up to date (live), or post it
    as a new message (``new_message``: a scheduled post). Slack only on change when live,
    unless ``force``; an edit waits for the next tick when ``budget`` (the workspace's
    ``chat.update`` allowance) is spent. It shows ``privacy.top`` rows and the reps below
    who moved up since the last post."""
    if spec.channel is None or directory.visibility(spec) == "private":
        return "no-channel"
    routing = Routing.from_directory(directory)
    scope, scope_id = ("team", spec.team) if spec.team else ("org", ORG)
    today = routing.today(scope, scope_id)
    points = directory.gamification.points
    q = BoardQuery(
        scope, scope_id, spec.metric, spec.period, today, spec.min_volume, points, spec.rank_by
    )
    ctx = BoardContext(directory, targets or Targets())
    period, ranked = await board_rows(store, routing, q, ctx)
    first, last = period.first, period.last
    board_id = f"board:{spec.key}:{first}"
    before = await store.ranking(f"posted:{board_id}") or []
    privacy = directory.privacy.model_copy(update={"top": min(spec.top, directory.privacy.top)})
    entries = shared_rows(ranked, privacy, moved_up(before, ranked))
    known = {} if new_message else await store.get_message(board_id)
    digest = _digest(entries)
    if known and known.get("digest") == digest and not force:
        return "unchanged"
    if known.get("ts") and budget is not None and not budget.take(now.timestamp()):
        return "deferred"
    locale = directory.locale
    t = labels(locale)
    message = board_message(
        entries,
        directory=directory,
        team_id=spec.team or t.get("leaderboard", "org"),
        metric=spec.metric,
        period_label=period_text(t, spec.period, first, last),
        updated=now.astimezone(directory.zone()).strftime("%H:%M:%S"),
        locale=locale,
        rank_by=spec.rank_by,
    )
    posted = await post_or_update(
        client, known.get("channel", spec.channel), message, known.get("ts")
    )
    await store.set_ranking(f"posted:{board_id}", [r.rep_id for r in ranked])
    if not new_message:
        await store.set_message(board_id, posted.channel, posted.ts, digest)
    elif spec.chart:
        rows = [(directory.display_name(e.rep_id), e.value) for e in entries]
        png = bar_chart(message.text, f"{first}{_TO}{last}", rows)
        # files.upload v2 wants a channel id: the one Slack answered the post with.
        await client.files_upload_v2(
            channel=posted.channel, file=png, filename="leaderboard.png", title=message.text
        )
    return "posted" if posted.created else "updated"
