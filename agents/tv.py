"""The TV page: a team's (or a contest's) live boards for a wall screen, over server-sent events.

``GET /tv?team=t1&metrics=calls,deals_won&period=week`` (or ``?contest=ID``)
serves the page; the page opens ``/tv/stream`` with the same query, which
sends the boards as JSON when they change (and a heartbeat comment every
15 s), so the page updates itself without reloading.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import faust
from aiohttp import web
from faust.web import Request, Response, View
from jinja2 import Environment, FileSystemLoader, select_autoescape
from redis.exceptions import RedisError

from agents.runtime import Runtime
from notifications.boards import score
from notifications.render import LOCALES, labels
from spm_stream.config.scopes import ORG
from spm_stream.ranking.fair import rank_by_of
from spm_stream.ranking.leaderboards import check_metric
from spm_stream.reports.query import BoardContext, BoardQuery, contest_standings, live_board

__all__ = ["register", "tv_payload"]

log = logging.getLogger("spm_stream.agents.tv")

_PAGE: Final = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"]),
).get_template("tv.html")
_HEARTBEAT_S: Final = 15.0
#: A screen shows a few boards of a short period: each refresh reads every rep's days of
#: each board, so a year of ten metrics per open stream would load Redis for nothing.
MAX_METRICS: Final = 6
TV_PERIODS: Final = ("day", "week", "month", "rolling_7", "rolling_30")


def _metric_title(metric: str, locale: str) -> str:
    t = labels(locale)
    names = {**t["metrics"], **t["metrics_extra"]}
    base, _, currency = metric.partition(":")
    name = str(names.get(base, base.replace("_", " ").capitalize()))
    return name + (f" ({currency})" if currency else "")


async def tv_payload(rt: Runtime, query: dict[str, str], now: datetime) -> dict[str, Any]:
    """The boards of one TV page, named and formatted for display; ValueError on a bad query."""
    directory = rt.directory
    locale = query.get("locale", directory.locale)
    t = labels(locale)
    boards: list[dict[str, Any]] = []
    scope_is_org = "contest" not in query and query.get("team") is None
    if "contest" in query:
        found = {c.id: c for c in await rt.store.contests()}
        contest = found.get(query["contest"])
        if contest is None:
            raise ValueError(f"contest: no contest {query['contest']!r}")
        rows = await contest_standings(
            rt.store, contest, routing=rt.routing, points=directory.gamification.points
        )
        name_of = directory.display_name if contest.between == "reps" else str
        title = contest.name
        boards.append(
            {
                "metric": contest.metric,
                "title": _metric_title(contest.metric, locale),
                "rows": [
                    {
                        "rank": r.rank,
                        "id": r.rep_id,
                        "name": name_of(r.rep_id),
                        "value": r.value,
                    }
                    for r in rows[:10]
                ],
            }
        )
    else:
        team = query.get("team")
        if team is not None and team not in directory.teams:
            raise ValueError(f"team: unknown team {team!r}")
        scope, scope_id = ("team", team) if team else ("org", ORG)
        period = query.get("period", "week")
        if period not in TV_PERIODS:
            raise ValueError(f"period: expected one of {', '.join(TV_PERIODS)}")
        names = list(
            dict.fromkeys(query.get("metrics", "calls,meetings_booked,deals_won").split(","))
        )
        if len(names) > MAX_METRICS:
            raise ValueError(f"metrics: at most {MAX_METRICS} per screen, got {len(names)}")
        metrics = [check_metric(m) for m in names]
        title = (
            (directory.teams[team].name or team) if team else t.get("leaderboard", "Leaderboard")
        )
        points = directory.gamification.points
        how = rank_by_of(query.get("rank_by", "value"))
        ctx = BoardContext(directory, rt.targets.current())
        top = directory.privacy.top  # a screen is a shared surface
        for metric in metrics:
            today = rt.routing.today(scope, scope_id)
            q = BoardQuery(scope, scope_id, metric, period, today, points=points, rank_by=how)
            body = await live_board(rt.store, rt.routing, q.check(), top=top, ctx=ctx)
            suffix = "" if how == "value" else f" ({t[f'rank_by_{how}']})"
            boards.append(
                {
                    "metric": metric,
                    "rank_by": how,
                    "title": _metric_title(metric, locale)
                    + suffix
                    + " · "
                    + t.get(f"period_{period}", period),
                    "rows": [
                        {
                            "rank": r["rank"],
                            "id": r["rep_id"],
                            "name": directory.display_name(r["rep_id"]),
                            "value": r["value"],
                        }
                        for r in body["rows"]
                    ],
                }
            )
    local = now.astimezone(directory.zone()).strftime("%H:%M:%S")
    for board in boards:
        for row in board["rows"]:
            row["shown"] = score(board["metric"], row["value"], t, board.get("rank_by", "value"))
            if scope_is_org:  # the org board says which team each rep is on
                row["team"] = (
                    directory.scope_name("team", t_id)
                    if (t_id := directory.team_of(row["id"]))
                    else None
                )
    return {
        "title": title,
        "boards": boards,
        "updated": f"{t['updated']} {local}",
        "empty": t["tv_empty"],
        "locale": locale if locale in LOCALES else "en",
        "connecting": t["tv_connecting"],
        "reconnecting": t["tv_reconnecting"],
    }


def register(app: faust.App, rt: Runtime) -> None:
    """Add /tv and /tv/stream to the worker's web server."""

    @app.page("/tv")
    class TvPage(View):
        async def get(self, request: Request) -> Response:
            if (refused := await rt.guard.refuse(self, request, tv=True)) is not None:
                return refused
            query = dict(request.query)
            try:
                first = await tv_payload(rt, query, datetime.now(UTC))
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            html = _PAGE.render(
                title=first["title"],
                stream_url="/tv/stream?" + urlencode(query),
                locale=first["locale"],
                connecting=first["connecting"],
                reconnecting=first["reconnecting"],
            )
            return self.html(html)

    streams = 0  # open /tv/stream connections of this worker

    @app.page("/tv/stream")
    class TvStream(View):
        async def get(self, request: Request) -> Any:
            nonlocal streams
            if (refused := await rt.guard.refuse(self, request, tv=True)) is not None:
                return refused
            if streams >= rt.settings.tv_max_streams:
                return self.json(
                    {"error": f"{streams} screens are open (SPM_TV_MAX_STREAMS); retry later"},
                    status=503,
                )
            query = dict(request.query)
            try:
                interval = min(60.0, max(0.5, float(query.pop("interval", "2"))))
                await tv_payload(rt, query, datetime.now(UTC))
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            # A screen let in by its link is shut when the link is revoked.
            by_link = rt.guard.requires_token and not rt.guard.has_bearer(request)
            streams += 1
            try:
                return await _stream(rt, request, query, interval, by_link)
            finally:
                streams -= 1


async def _stream(
    rt: Runtime, request: Request, query: dict[str, str], interval: float, by_link: bool
) -> Any:
    """Send the boards whenever they change, until the screen goes away or its link is revoked."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    raw: Any = request
    await response.prepare(raw)
    last, quiet = "", 0.0
    transport = raw.transport
    try:
        while transport is not None and not transport.is_closing():
            try:
                if by_link and await rt.guard.screen(query) is None:
                    log.info("tv stream closed: the link of screen %r was revoked", query["screen"])
                    break
                payload = await tv_payload(rt, query, datetime.now(UTC))
            except (RedisError, OSError) as exc:
                log.warning("tv stream: %r", exc)
                payload = None
            boards = json.dumps(payload["boards"] if payload else None, sort_keys=True)
            if payload is not None and boards != last:
                await response.write(f"data: {json.dumps(payload)}\n\n".encode())
                last, quiet = boards, 0.0
            elif (quiet := quiet + interval) >= _HEARTBEAT_S:
                await response.write(b": keep-alive\n\n")
                quiet = 0.0
            await asyncio.sleep(interval)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the screen went away
    return response
