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

from agents.app import Runtime
from notifications.render import labels, number
from spm_stream.leaderboards import check_metric
from spm_stream.query import contest_standings, live_board
from spm_stream.scopes import ORG
from spm_stream.windows import PERIOD_KINDS

__all__ = ["register", "tv_payload"]

log = logging.getLogger("spm_stream.agents.tv")

_PAGE: Final = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"]),
).get_template("tv.html")
_HEARTBEAT_S: Final = 15.0


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
                        "shown": number(r.value),
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
        if period not in PERIOD_KINDS:
            raise ValueError(f"period: expected one of {', '.join(PERIOD_KINDS)}")
        metrics = [
            check_metric(m)
            for m in query.get("metrics", "calls,meetings_booked,deals_won").split(",")
        ]
        title = (
            (directory.teams[team].name or team) if team else t.get("leaderboard", "Leaderboard")
        )
        for metric in metrics:
            body = await live_board(
                rt.store,
                routing=rt.routing,
                scope=scope,
                scope_id=scope_id,
                metric=metric,
                kind=period,
                at=rt.routing.today(scope, scope_id),
                top=10,
                points=directory.gamification.points,
            )
            boards.append(
                {
                    "metric": metric,
                    "title": _metric_title(metric, locale)
                    + " · "
                    + t.get(f"period_{period}", period),
                    "rows": [
                        {
                            "rank": r["rank"],
                            "id": r["rep_id"],
                            "name": directory.display_name(r["rep_id"]),
                            "value": r["value"],
                            "shown": number(r["value"]),
                        }
                        for r in body["rows"]
                    ],
                }
            )
    local = now.astimezone(directory.zone()).strftime("%H:%M:%S")
    return {
        "title": title,
        "boards": boards,
        "updated": f"{t['updated']} {local}",
        "empty": t["tv_empty"],
    }


def register(app: faust.App, rt: Runtime) -> None:
    """Add /tv and /tv/stream to the worker's web server."""

    @app.page("/tv")
    class TvPage(View):
        async def get(self, request: Request) -> Response:
            query = dict(request.query)
            try:
                first = await tv_payload(rt, query, datetime.now(UTC))
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            html = _PAGE.render(title=first["title"], stream_url="/tv/stream?" + urlencode(query))
            return self.html(html)

    @app.page("/tv/stream")
    class TvStream(View):
        async def get(self, request: Request) -> Any:
            query = dict(request.query)
            try:
                interval = min(60.0, max(0.5, float(query.pop("interval", "2"))))
                await tv_payload(rt, query, datetime.now(UTC))
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            raw: Any = request
            await response.prepare(raw)
            last, quiet = "", 0.0
            try:
                while True:
                    try:
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
