"""Reading the numbers: leaderboard, kpis, report and progress."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    PERIOD,
    SCOPE,
    board_metric,
    config_errors,
    format_option,
    open_store,
    redis_settings,
)
from spm_stream.config.checks import require_services
from spm_stream.config.directory import Directory, load_directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.settings import load_settings


@cli.command()
@click.option("--scope", default="team", show_default=True, type=click.Choice(["team", "org"]))
@click.option("--id", "scope_id", help="Team id (not needed for --scope org).")
@click.option(
    "--metric",
    default="calls",
    show_default=True,
    callback=board_metric,
    help="A count (calls, deals_won, …), revenue:<CUR>, or a rate (win_rate, …).",
)
@click.option("--period", default="day", show_default=True, type=PERIOD)
@click.option(
    "--at", "at", type=click.DateTime(["%Y-%m-%d"]), help="A day in the period (default: today)."
)
@click.option("--top", default=10, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--rep", help="Also show this rep's rank and the reps just above and below.")
@click.option(
    "--min-volume",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="For rates: the least denominator (e.g. decided deals for win_rate) to qualify.",
)
@click.option(
    "--rank-by",
    default="value",
    show_default=True,
    type=click.Choice(["value", "attainment", "improvement"]),
    help="value; attainment: % of each rep's own target (prorated for new reps); "
    "improvement: change on the previous period. --metric score ranks by scorecards:.",
)
@format_option()
@config_errors
def leaderboard(
    scope: str,
    scope_id: str | None,
    metric: str,
    period: str,
    at: datetime | None,
    top: int,
    rep: str | None,
    min_volume: int,
    rank_by: str,
    fmt: str,
) -> None:
    """Rank the reps of a team (or the org) by any metric over any period, live from Redis.

    Ties go to the earlier achiever (the rep who reached the score on an earlier
    day), then to the rep id. Rates only rank reps with at least --min-volume.
    """
    from spm_stream.config.targets import load_targets
    from spm_stream.ranking.fair import rank_by_of
    from spm_stream.reports.query import BoardContext, BoardQuery, live_board

    settings = redis_settings()
    directory = load_directory(settings.config)
    if scope == "team" and not scope_id:
        raise click.UsageError("--id is required for --scope team")
    board_id: str = scope_id if scope == "team" and scope_id else ORG
    routing = Routing.from_directory(directory)
    day = at.date() if at else routing.today(scope, board_id)
    points = directory.gamification.points
    board = BoardQuery(
        scope, board_id, metric, period, day, min_volume, points, rank_by_of(rank_by)
    )
    try:
        board.check()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--metric/--rank-by") from None
    ctx = BoardContext(directory, load_targets(settings.targets))

    async def read() -> dict[str, Any]:
        async with open_store(settings) as store:
            return await live_board(store, routing, board, top=top, rep=rep, ctx=ctx)

    body = asyncio.run(read())
    if fmt == "json":
        click.echo(json.dumps(body))
        return
    from rich.console import Console
    from rich.table import Table

    from spm_stream.reports.tables import board_value, period_label

    names = directory.display_name
    where = directory.scope_name(scope, board_id)
    shown_how = "" if rank_by == "value" else f" ({rank_by})"
    table = Table(title=f"{metric}{shown_how} · {where} · {period_label(body['period'])}")
    for column in ("#", "rep", metric, "volume", "reached"):
        table.add_column(column)
    shown = body["rows"] + [
        r for r in body.get("rep", {}).get("around", []) if r not in body["rows"]
    ]
    for r in shown:
        style = "bold" if r["rep_id"] == rep else None
        row = (
            str(r["rank"]),
            names(r["rep_id"]),
            board_value(metric, r["value"], rank_by),
            str(r["volume"]),
            r["reached"],
        )
        table.add_row(*row, style=style)
    Console().print(table)
    if not shown:
        click.echo("nobody qualifies yet", err=True)


@cli.command()
@click.option("--scope", required=True, type=SCOPE, help="Whose KPIs: a rep, a team or the org.")
@click.option("--id", "scope_id", help="Rep or team id (not needed for --scope org).")
@click.option(
    "--period",
    default="month",
    show_default=True,
    type=PERIOD,
    help="Calendar period containing --at, or the N days ending at --at.",
)
@click.option(
    "--at",
    "at",
    type=click.DateTime(["%Y-%m-%d"]),
    help="A day in the period, in the scope's time zone (default: today).",
)
@format_option()
@config_errors
def kpis(scope: str, scope_id: str | None, period: str, at: datetime | None, fmt: str) -> None:
    """Show every KPI of a rep, team or the org for a period, live from Redis.

    The JSON is the same object `spm-stream report` computes offline from a file,
    and the worker serves it at GET /kpis?scope=&id=&period=&at=.
    """
    from spm_stream.config.targets import load_targets
    from spm_stream.reports.query import live_report

    if scope != "org" and not scope_id:
        raise click.BadParameter("required for --scope rep and team", param_hint="--id")
    sid = ORG if scope == "org" or scope_id is None else scope_id
    settings = load_settings()
    directory = load_directory(settings.config)
    routing = Routing.from_directory(directory)
    targets = load_targets(settings.targets)
    require_services(settings, redis=True)  # after the local checks

    async def read() -> dict[str, Any]:
        async with open_store(settings) as store:
            return await live_report(
                store,
                routing=routing,
                targets=targets,
                scope=scope,
                scope_id=sid,
                kind=period,
                at=at.date() if at else routing.today(scope, sid),
            )

    _print_reports([asyncio.run(read())], fmt, directory, single=True)


@cli.command()
@click.option(
    "--events",
    "events_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON Lines file of canonical events.",
)
@click.option("--period", required=True, type=PERIOD)
@click.option(
    "--at", "at", required=True, type=click.DateTime(["%Y-%m-%d"]), help="A day in the period."
)
@click.option("--tz", "tz", help="Time zone of the period (default: the people file's, else UTC).")
@click.option("--scope", type=SCOPE, help="Only this scope kind (default: org, teams and reps).")
@click.option("--id", "scope_id", help="Only this rep or team id.")
@click.option(
    "--targets",
    "targets_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Targets YAML (default: the shipped benchmarks).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="People YAML: reps' teams and time zones (optional).",
)
@format_option("json")
@config_errors
def report(
    events_file: Path,
    period: str,
    at: datetime,
    tz: str | None,
    scope: str | None,
    scope_id: str | None,
    targets_file: Path | None,
    config_file: Path | None,
    fmt: str,
) -> None:
    """Compute the KPIs straight from a file of events: no Kafka, no Redis.

    For back-fills, audits and what-ifs. Uses the same validation and formulas
    as the live pipeline; invalid lines are skipped and counted on stderr, and a
    repeated event_id counts once.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from spm_stream.config.targets import load_targets
    from spm_stream.reports.report import fold, offline_report

    directory = load_directory(config_file)
    routing = Routing.from_directory(directory)
    if tz is not None:
        try:
            routing = replace(routing, zone=ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
    with events_file.open("rb") as lines:
        ledger = fold(lines, routing)
    click.echo(
        f"{ledger.counted} events counted, {ledger.duplicates} duplicates, "
        f"{ledger.rejected} invalid lines skipped"
        + (f" ({dict(ledger.reasons)})" if ledger.rejected else ""),
        err=True,
    )
    sid = ORG if scope == "org" else scope_id
    reports = offline_report(
        ledger,
        kind=period,
        at=at.date(),
        routing=routing,
        targets=load_targets(targets_file),
        scope=scope,
        scope_id=sid,
    )
    _print_reports(reports, fmt, directory)


def _print_reports(
    reports: list[dict[str, Any]], fmt: str, directory: Directory, *, single: bool = False
) -> None:
    """JSON (one object when ``single``, else a list) or rich tables sized to the terminal
    (80 columns when piped), with names from the people file."""
    if fmt == "json":
        click.echo(json.dumps(reports[0] if single else reports, indent=2, ensure_ascii=False))
        return
    from rich.console import Console

    from spm_stream.reports.tables import kpi_tables

    console = Console()
    for table in kpi_tables(reports, name_of=directory.scope_name, width=console.width):
        console.print(table)


@cli.command()
@click.option("--rep", required=True, help="Rep id.")
@format_option()
@config_errors
def progress(rep: str, fmt: str) -> None:
    """A rep's points (today, this week), current streak and badges earned."""
    from spm_stream.ranking.gamification import points_of_day, streak

    settings = redis_settings()
    directory = load_directory(settings.config)
    game = directory.gamification
    cal = directory.calendar_of(rep)
    today = datetime.now(UTC).astimezone(cal.zone).date()
    days = [today - timedelta(days=back) for back in range(game.lookback_days - 1, -1, -1)]

    async def run() -> Any:
        async with open_store(settings) as store:
            found = await store.rep_days("org", ORG, [f"day:{d}" for d in days])
            return found.get(rep, []), (await store.badges([rep]))[rep]

    rep_days, badges = asyncio.run(run())
    dated = [(date.fromisoformat(b.removeprefix("day:")), acc) for b, acc in rep_days]
    week_start = today - timedelta(days=today.weekday())
    body: dict[str, Any] = {
        "rep_id": rep,
        "name": directory.display_name(rep),
        "points_today": sum(points_of_day(d, a, game.points) for d, a in dated if d == today),
        "points_this_week": sum(
            points_of_day(d, a, game.points) for d, a in dated if d >= week_start
        ),
        "streak": streak(dated, game.streak, game.points, cal, today),
        "streak_rule": f"{game.streak.metric} >= {game.streak.daily_target:g} a working day",
        "badges": [
            {"id": b, "name": game.badges[b].name if b in game.badges else b, "earned": day}
            for b, day in sorted(badges.items(), key=lambda item: item[1])
        ],
    }
    if fmt == "json":
        click.echo(json.dumps(body, indent=2))
        return
    today_points, week_points = body["points_today"], body["points_this_week"]
    click.echo(f"{body['name']}: {today_points:g} points today, {week_points:g} this week")
    click.echo(f"streak: {body['streak']} working day(s) ({body['streak_rule']})")
    for b in body["badges"]:
        click.echo(f"badge: {b['name']} ({b['earned']})")
