"""Contests: create, list and show standings."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    WHEN,
    config_errors,
    format_option,
    open_store,
    redis_settings,
)
from spm_stream.config.checks import require_services
from spm_stream.config.directory import load_directory
from spm_stream.config.scopes import Routing
from spm_stream.config.settings import load_settings


@cli.group()
def contest() -> None:
    """Contests: named, time-bound competitions on one metric, for reps or teams."""


@contest.command("create")
@click.option("--id", "contest_id", required=True, help="Short id: lowercase, digits, - and _.")
@click.option("--name", required=True, help="Shown in the announcements.")
@click.option("--metric", required=True, help="Any board metric (see `leaderboard --help`).")
@click.option("--start", required=True, type=WHEN, help="Date or time; local to the org zone.")
@click.option(
    "--end", required=True, type=WHEN, help="Date (the contest ends at its start) or time."
)
@click.option("--between", type=click.Choice(["reps", "teams"]), default="reps", show_default=True)
@click.option("--team", help="Only this team's reps.")
@click.option("--prize", default="", help="Prize text, e.g. 'Dinner for two'.")
@click.option("--channel", help="Slack channel for the start, milestone and end announcements.")
@click.option(
    "--milestones", default="50", show_default=True, help="Percents of the time, e.g. 25,50,90."
)
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 50))
@config_errors
def contest_create(
    contest_id: str,
    name: str,
    metric: str,
    start: datetime,
    end: datetime,
    between: str,
    team: str | None,
    prize: str,
    channel: str | None,
    milestones: str,
    top: int,
) -> None:
    """Create a contest; it is announced at its start, milestones and end by the leader worker."""
    from pydantic import ValidationError

    from spm_stream.ranking.contests import Contest

    settings = load_settings()
    directory = load_directory(settings.config)
    zone = directory.zone()
    if team is not None and team not in directory.teams:
        raise click.BadParameter(f"unknown team {team!r}", param_hint="--team")
    if end.tzinfo is None and (end.hour, end.minute, end.second) == (0, 0, 0):
        end += timedelta(days=1)  # a bare date includes that day
    try:
        made = Contest(
            id=contest_id,
            name=name,
            metric=metric,
            start=start if start.tzinfo else start.replace(tzinfo=zone),
            end=end if end.tzinfo else end.replace(tzinfo=zone),
            between=between,
            team=team,
            prize=prize,
            channel=channel,
            milestones=tuple(int(m) for m in milestones.split(",") if m.strip()),
            top=top,
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "contest"
        raise click.UsageError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--milestones") from None

    require_services(settings, redis=True)  # after the arguments are checked

    async def run() -> bool:
        async with open_store(settings) as store:
            return await store.add_contest(made)

    if not asyncio.run(run()):
        raise click.UsageError(f"--id: a contest {contest_id!r} exists already")
    click.echo(f"created {made.id}: {made.start.isoformat()} -> {made.end.isoformat()}")


@contest.command("list")
@format_option()
@config_errors
def contest_list(fmt: str) -> None:
    """Every contest with its status (upcoming, running, ended)."""
    settings = redis_settings()

    async def run() -> Any:
        async with open_store(settings) as store:
            return await store.contests()

    now = datetime.now(UTC)
    found = [
        {**json.loads(c.model_dump_json()), "status": c.status(now)} for c in asyncio.run(run())
    ]
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
        return
    for c in found:
        click.echo(
            f"{c['id']}\t{c['status']}\t{c['metric']}\t{c['start']} -> {c['end']}\t{c['name']}"
        )
    if not found:
        click.echo("no contests", err=True)


@contest.command("standings")
@click.argument("contest_id")
@format_option()
@config_errors
def contest_standings_command(contest_id: str, fmt: str) -> None:
    """A contest's standings now (ties to the earlier achiever)."""
    from spm_stream.reports.query import contest_standings

    settings = redis_settings()
    directory = load_directory(settings.config)

    async def run() -> Any:
        async with open_store(settings) as store:
            found = {c.id: c for c in await store.contests()}
            if contest_id not in found:
                raise click.BadParameter(
                    f"no contest {contest_id!r} (known: {', '.join(found) or 'none'})",
                    param_hint="CONTEST_ID",
                )
            chosen = found[contest_id]
            rows = await contest_standings(
                store,
                chosen,
                routing=Routing.from_directory(directory),
                points=directory.gamification.points,
            )
            return chosen, rows

    chosen, rows = asyncio.run(run())
    if fmt == "json":
        body = {
            "contest": json.loads(chosen.model_dump_json()),
            "status": chosen.status(datetime.now(UTC)),
            "standings": [r.as_json() for r in rows],
        }
        click.echo(json.dumps(body, indent=2))
        return
    name = directory.display_name if chosen.between == "reps" else str
    click.echo(f"{chosen.name} ({chosen.metric}, {chosen.status(datetime.now(UTC))})")
    for r in rows:
        click.echo(f"{r.rank:>3}. {name(r.rep_id)}\t{r.value:g}")
