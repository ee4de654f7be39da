"""The `spm-stream` command line.

Every command reads the same validated settings (``SPM_*`` variables and the
YAML file in ``SPM_CONFIG``) and fails at once with the bad key named.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from spm_stream.config.checks import Checked, ServiceDown, check_configuration, require_services
from spm_stream.config.directory import Directory, load_directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.settings import ConfigError, Settings, load_settings
from spm_stream.reports.report import SCOPE_KINDS
from spm_stream.store.redis_store import Store
from spm_stream.time.windows import PERIOD_KINDS

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])


class _ServiceProblem(click.ClickException):
    """Kafka or Redis is not there: one line naming the address, exit code 69 (sysexits'
    EX_UNAVAILABLE), so scripts can tell it from a configuration error."""

    exit_code = 69


class _ConfigProblem(click.ClickException):
    """A configuration error: one line naming what to fix, exit code 2, no usage text
    (the command was typed right; a variable or file is wrong)."""

    exit_code = 2


def _config_errors(fn: F) -> F:
    """Turn configuration errors into a one-line CLI error (exit code 2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            raise _ConfigProblem(str(exc)) from None
        except ServiceDown as exc:
            raise _ServiceProblem(str(exc)) from None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Up at the start, gone since: still one line, not the client's traceback.
            raise _ServiceProblem(f"Redis stopped answering (SPM_REDIS_URL): {exc}") from None
        except (KafkaTimeoutError, KafkaConnectionError) as exc:
            raise _ServiceProblem(f"Kafka stopped answering (SPM_KAFKA_URL): {exc}") from None

    return wrapper  # type: ignore[return-value]


def _require_given_services() -> None:
    """For commands that start embedded services unless SPM_KAFKA_URL/SPM_REDIS_URL point
    elsewhere (demo, bench): the ones pointed at must answer."""
    given = load_settings()
    require_services(given, kafka=given.kafka_url is not None, redis=given.redis_url is not None)


def _checked(settings: Settings) -> Checked:
    """The configuration files, cross-checked; warnings printed to stderr."""
    checked = check_configuration(settings, os.environ)
    for warning in checked.warnings:
        click.echo(f"warning: {warning}", err=True)
    return checked


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spm-stream")
def cli() -> None:
    """spm-stream: CRM events from Kafka → KPIs, leaderboards and Slack nudges.

    Configuration comes from SPM_* environment variables (SPM_KAFKA_URL,
    SPM_REDIS_URL, SPM_SLACK_TOKEN, SPM_SLACK_BASE_URL, SPM_CONFIG, …); see the
    README. Start with `spm-stream demo`, which needs none of them.
    """


@cli.command()
@_config_errors
def worker() -> None:
    """Run a Faust stream worker: consume crm-events, keep counters and boards in Redis.

    Needs SPM_KAFKA_URL and SPM_REDIS_URL. Creates the topics if missing,
    serves /health and /stats on SPM_WEB_HOST:SPM_WEB_PORT, and refreshes the
    live Slack leaderboards when SPM_SLACK_TOKEN and team channels are set.
    Start more workers with the same SPM_APP_ID to share the partitions.
    """
    from faust.worker import Worker

    from agents.app import create_app
    from spm_stream.ingestion.topics import ensure_topics
    from spm_stream.logs import logging_config

    settings = load_settings()
    directory = _checked(settings).directory
    settings.require_redis()
    settings.check_exposure()
    _check_notifications(settings, directory)
    require_services(settings, kafka=True, redis=True)  # after every local check
    ensure_topics(settings)
    app = create_app(settings, directory)
    click.echo(f"settings: {json.dumps(settings.redacted())}", err=True)
    Worker(
        app,
        loglevel=settings.log_level,
        logging_config=logging_config(settings.log_level, settings.log_format),
        quiet=True,
    ).execute_from_commandline()


@cli.group()
def topics() -> None:
    """Manage the Kafka topics spm-stream uses."""


@topics.command("create")
@_config_errors
def topics_create() -> None:
    """Create the input and dead-letter topics if they do not exist (idempotent)."""
    from spm_stream.ingestion.topics import ensure_topics

    settings = load_settings()
    require_services(settings, kafka=True)
    ensure_topics(settings)
    click.echo(
        f"topics ready: {settings.topic} ({settings.partitions} partitions), {settings.dlq_topic}"
    )


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--topic", help="Target topic (default: SPM_TOPIC).")
@_config_errors
def replay(file: Path, topic: str | None) -> None:
    """Produce a JSON Lines file of events to Kafka, keyed by rep_id, with a progress bar.

    Lines are sent as they are: invalid ones are rejected by the worker into the
    dead-letter topic with the reason, like any bad input. Re-running the same
    file is harmless: event_ids already counted are skipped.
    """
    from spm_stream.ingestion.replay import replay_file

    settings = load_settings()
    require_services(settings, kafka=True)
    sent = replay_file(settings, file, topic or settings.topic)
    click.echo(f"produced {sent} events to {topic or settings.topic}")


@cli.command()
@click.option("--teams", type=click.IntRange(1, 500), default=3, show_default=True)
@click.option("--reps-per-team", type=click.IntRange(1, 500), default=5, show_default=True)
@click.option("--days", type=click.IntRange(1, 3660), default=28, show_default=True)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (default: DAYS days ago, so the stream ends today).",
)
@click.option("--timezone", "zone", default="UTC", show_default=True, help="IANA zone of the reps.")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same stream.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JSON Lines here (`-` for stdout) instead of producing to Kafka.",
)
@click.option(
    "--directory",
    "directory_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a matching SPM_CONFIG (teams, people, managers) to this YAML file.",
)
@_config_errors
def generate(
    teams: int,
    reps_per_team: int,
    days: int,
    start: datetime | None,
    zone: str,
    seed: int,
    out: Path | None,
    directory_out: Path | None,
) -> None:
    """Generate realistic CRM activity: to a file, or to the input topic (SPM_KAFKA_URL).

    Reps of different skill work weekdays with a daily rhythm through the
    outbound funnel of the sources (reach about 40 %, success 11 %, pipe 73 %):
    calls, e-mails, meaningful conversations, qualified leads, booked meetings
    (held, no-shows, reschedules), forecast entries and deals that close weeks
    later, won or lost, in several products and currencies.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import yaml

    from spm_stream.devtools.generator import Generator, demo_directory

    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.UsageError(f"--timezone: unknown time zone {zone!r}") from None
    first = start.date() if start else datetime.now(tz).date() - timedelta(days=days - 1)
    gen = Generator(teams=teams, reps_per_team=reps_per_team, seed=seed)
    records = gen.simulate(first, days, tz)
    if directory_out is not None:
        people = demo_directory(gen, zone)
        # The demo's seconds-scale alert timings are for the demo: keep the shipped defaults.
        for section in ("alerts", "calendar"):
            people.pop(section)
        directory_out.write_text(yaml.safe_dump(people, sort_keys=False), encoding="utf-8")
    if out is not None:
        count = 0
        with contextlib.ExitStack() as stack:
            stream = sys.stdout.buffer if str(out) == "-" else stack.enter_context(out.open("wb"))
            for _, value in records:
                stream.write(value + b"\n")
                count += 1
        click.echo(f"wrote {count} events ({first} + {days} days)", err=True)
        return
    from spm_stream.ingestion.replay import produce

    settings = load_settings()
    require_services(settings, kafka=True)
    count = produce(settings, records)
    click.echo(f"produced {count} events to {settings.topic} ({first} + {days} days)", err=True)


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML mapping of the export's columns to canonical fields (README: Bulk import).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where rejected rows go, with reasons (default: FILE.rejects.jsonl).",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where progress is saved (default: FILE.import-state).",
)
@click.option("--restart", is_flag=True, help="Ignore the saved progress and start over.")
@_config_errors
def import_(
    file: Path, mapping: Path | None, rejects: Path | None, state: Path | None, restart: bool
) -> None:
    """Import a CRM export (.csv or .jsonl) into the input topic, resumably.

    Without --mapping, columns are canonical field names (event_id, type,
    occurred_at, rep_id, team_id, data.amount, …) and JSON Lines are canonical
    events. Progress is saved in FILE.import-state (--state) after every 5,000
    rows that Kafka acknowledged: after an interruption, the same command
    resumes. Rows
    that break the contract go to the rejects file with the field and reason.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from spm_stream.ingestion.importer import count_rows, import_file, load_import_mapping

    settings = load_settings()
    require_services(settings, kafka=True)
    rules = load_import_mapping(mapping)
    rejects = rejects or file.with_name(file.name + ".rejects.jsonl")
    state = state or file.with_name(file.name + ".import-state")
    columns = (TextColumn("import"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("import", total=count_rows(file))
        try:
            result = import_file(
                settings,
                file,
                rules,
                rejects=rejects,
                state=state,
                restart=restart,
                on_progress=lambda done: progress.update(task, completed=done),
            )
        except KeyboardInterrupt:
            raise click.ClickException(
                "interrupted: run the same command again to resume"
            ) from None
    resumed = f" (resumed after row {result.resumed_from})" if result.resumed_from else ""
    click.echo(
        f"imported {file}{resumed}: {result.produced} events produced to {settings.topic}, "
        f"{result.rejected} rejected (see {rejects}), {result.skipped} skipped"
    )


_PERIOD = click.Choice(list(PERIOD_KINDS))
_SCOPE = click.Choice(list(SCOPE_KINDS))


def _board_metric(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from spm_stream.ranking.leaderboards import check_metric

    try:
        return check_metric(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option("--scope", default="team", show_default=True, type=click.Choice(["team", "org"]))
@click.option("--id", "scope_id", help="Team id (not needed for --scope org).")
@click.option(
    "--metric",
    default="calls",
    show_default=True,
    callback=_board_metric,
    help="A count (calls, deals_won, …), revenue:<CUR>, or a rate (win_rate, …).",
)
@click.option("--period", default="day", show_default=True, type=_PERIOD)
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
    "--format", "fmt", default="table", show_default=True, type=click.Choice(["table", "json"])
)
@_config_errors
def leaderboard(
    scope: str,
    scope_id: str | None,
    metric: str,
    period: str,
    at: datetime | None,
    top: int,
    rep: str | None,
    min_volume: int,
    fmt: str,
) -> None:
    """Rank the reps of a team (or the org) by any metric over any period, live from Redis.

    Ties go to the earlier achiever (the rep who reached the score on an earlier
    day), then to the rep id. Rates only rank reps with at least --min-volume.
    """
    from spm_stream.reports.query import live_board

    settings = load_settings()
    require_services(settings, redis=True)
    directory = load_directory(settings.config)
    if scope == "team" and not scope_id:
        raise click.UsageError("--id is required for --scope team")
    board_id: str = scope_id if scope == "team" and scope_id else ORG
    routing = Routing.from_directory(directory)
    day = at.date() if at else routing.today(scope, board_id)

    async def read() -> dict[str, Any]:
        store = Store.from_settings(settings)
        try:
            return await live_board(
                store,
                routing=routing,
                scope=scope,
                scope_id=board_id,
                metric=metric,
                kind=period,
                at=day,
                top=top,
                rep=rep,
                min_volume=min_volume,
                points=directory.gamification.points,
            )
        finally:
            await store.close()

    body = asyncio.run(read())
    if fmt == "json":
        click.echo(json.dumps(body))
        return
    from rich.console import Console
    from rich.table import Table

    from spm_stream.reports.tables import board_value, period_label

    names = directory.display_name
    where = directory.scope_name(scope, board_id)
    table = Table(title=f"{metric} · {where} · {period_label(body['period'])}")
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
            board_value(metric, r["value"]),
            str(r["volume"]),
            r["reached"],
        )
        table.add_row(*row, style=style)
    Console().print(table)
    if not shown:
        click.echo("nobody qualifies yet", err=True)


@cli.command()
@click.option("--scope", required=True, type=_SCOPE, help="Whose KPIs: a rep, a team or the org.")
@click.option("--id", "scope_id", help="Rep or team id (not needed for --scope org).")
@click.option(
    "--period",
    default="month",
    show_default=True,
    type=_PERIOD,
    help="Calendar period containing --at, or the N days ending at --at.",
)
@click.option(
    "--at",
    "at",
    type=click.DateTime(["%Y-%m-%d"]),
    help="A day in the period, in the scope's time zone (default: today).",
)
@click.option(
    "--format", "fmt", default="table", show_default=True, type=click.Choice(["table", "json"])
)
@_config_errors
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
        store = Store.from_settings(settings)
        try:
            return await live_report(
                store,
                routing=routing,
                targets=targets,
                scope=scope,
                scope_id=sid,
                kind=period,
                at=at.date() if at else routing.today(scope, sid),
            )
        finally:
            await store.close()

    _print_reports([asyncio.run(read())], fmt, directory, single=True)


@cli.command()
@click.option(
    "--events",
    "events_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON Lines file of canonical events.",
)
@click.option("--period", required=True, type=_PERIOD)
@click.option(
    "--at", "at", required=True, type=click.DateTime(["%Y-%m-%d"]), help="A day in the period."
)
@click.option("--tz", "tz", help="Time zone of the period (default: the people file's, else UTC).")
@click.option("--scope", type=_SCOPE, help="Only this scope kind (default: org, teams and reps).")
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
@click.option(
    "--format", "fmt", default="json", show_default=True, type=click.Choice(["table", "json"])
)
@_config_errors
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


@cli.command("post-leaderboard")
@click.option("--team", "team", required=True, help="Team id whose channel gets the board.")
@click.option("--metric", default="calls", show_default=True)
@click.option("--force", is_flag=True, help="Update the message even if nothing changed.")
@_config_errors
def post_leaderboard(team: str, metric: str, force: bool) -> None:
    """Post a team's leaderboard to its Slack channel, or edit today's message in place.

    The first run of the day posts a message (chat.postMessage); later runs
    edit that same message (chat.update), and do nothing if the board is
    unchanged. Needs SPM_SLACK_TOKEN and a channel for the team in SPM_CONFIG.
    """
    from notifications.boards import sync_team_board
    from notifications.slack import make_client

    settings = load_settings()
    require_services(settings, redis=True)
    directory = load_directory(settings.config)
    if team not in directory.teams:
        raise click.BadParameter(
            f"unknown team {team!r} (teams in SPM_CONFIG: {', '.join(directory.teams) or 'none'})",
            param_hint="--team",
        )

    async def run() -> str:
        store = Store.from_settings(settings)
        try:
            return await sync_team_board(
                store,
                make_client(settings),
                directory,
                team,
                metric=metric,
                now=datetime.now(UTC),
                force=force,
            )
        finally:
            await store.close()

    click.echo(asyncio.run(run()))


@cli.command("slack-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--token", help="Accept only this token (default: any non-empty token).")
def slack_server(host: str, port: int, token: str | None) -> None:
    """Run the local Slack-Web-API-compatible server (for the demo and the tests).

    Point SPM_SLACK_BASE_URL at http://HOST:PORT/api/. Received messages are
    shown at http://HOST:PORT/ and as JSON at /_messages.
    """
    from spm_stream.devtools.slack_server import run_forever

    click.echo(
        f"local Slack on http://{host}:{port}/ (API base http://{host}:{port}/api/)", err=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_forever(host, port, token))


@cli.command()
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    help="Seconds of traffic, then stop "
    "and print a JSON summary as the last line (default: until Ctrl-C).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    help="Generated episodes (a call, an e-mail, a booking and what follows) per second "
    "(default: the compressed clock's, a working day of activity per rep every 5 minutes).",
)
@click.option("--teams", default=3, show_default=True, type=click.IntRange(1, 50))
@click.option("--reps-per-team", default=5, show_default=True, type=click.IntRange(1, 200))
@click.option(
    "--slack-port",
    default=8765,
    show_default=True,
    type=int,
    help="Port of the local Slack page (0 = any free port).",
)
@_config_errors
def demo(
    duration: float | None, rate: float | None, teams: int, reps_per_team: int, slack_port: int
) -> None:
    """Run everything locally: broker, Redis, worker, local Slack and an event generator.

    Without SPM_KAFKA_URL / SPM_REDIS_URL it starts an embedded broker (tansu)
    and Redis from PyPI wheels. Open the printed URL to watch the live
    leaderboards being posted and edited.
    """
    from spm_stream.devtools.demo import DemoOptions, install_stop_signals, run_demo
    from spm_stream.logs import configure_logging

    _require_given_services()
    configure_logging("warn")
    install_stop_signals()
    options = DemoOptions(
        duration_s=duration,
        rate=rate,
        teams=teams,
        reps_per_team=reps_per_team,
        slack_port=slack_port,
    )
    summary = run_demo(options, say=lambda line: click.echo(line, err=True))
    click.echo(json.dumps(summary))
    if summary["events_processed"] != summary["events_produced"] and duration is not None:
        sys.exit(1)


@cli.command()
@click.option(
    "--events",
    "n",
    default=200_000,
    show_default=True,
    type=click.IntRange(1000),
    help="Events to produce and process.",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 16))
@click.option(
    "--latency-rate",
    default=2000.0,
    show_default=True,
    help="Offered load (events/s) of the latency phase.",
)
@click.option("--latency-seconds", default=10.0, show_default=True)
@click.option(
    "--rounds",
    default=1,
    show_default=True,
    type=click.IntRange(1, 9),
    help="Alternate the Faust reference and the pipeline this many times; report medians.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the run's topics and Redis keys on SPM_KAFKA_URL / SPM_REDIS_URL "
    "(by default they are deleted at the end).",
)
@click.option("--json", "as_json", is_flag=True, help="No progress lines: only the JSON line.")
@_config_errors
def bench(
    n: int,
    workers: int,
    latency_rate: float,
    latency_seconds: float,
    rounds: int,
    keep: bool,
    as_json: bool,
) -> None:
    """Measure pipeline throughput and latency against the raw ceiling, in one run.

    Runs on a fresh topic and key prefix: the embedded broker and Redis by
    default, or SPM_KAFKA_URL / SPM_REDIS_URL, where the run's topics and keys
    are deleted at the end unless --keep. The last line is JSON with
    events_per_s, ceiling_events_per_s, faust_noop_events_per_s, ratio,
    ratio_to_faust_noop, p50_ms, p99_ms and rss_mb. See BENCHMARKS.md.
    """
    from spm_stream.devtools.bench import BenchOptions, run_bench
    from spm_stream.logs import configure_logging

    _require_given_services()
    configure_logging("warn")
    options = BenchOptions(
        events=n,
        workers=workers,
        latency_rate=latency_rate,
        latency_seconds=latency_seconds,
        rounds=rounds,
        keep=keep,
    )
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))
    click.echo(json.dumps(run_bench(options, say=say)))


@cli.command("bench-noop-worker", hidden=True)
@click.option("--expected", type=int, required=True)
@_config_errors
def bench_noop_worker(expected: int) -> None:
    """The benchmark's do-nothing Faust worker (started by `spm-stream bench`)."""
    from faust.worker import Worker

    from agents.noop import create_noop_app

    settings = load_settings()
    Worker(
        create_noop_app(settings, expected), loglevel="warn", quiet=True
    ).execute_from_commandline()


def _message_kinds() -> tuple[list[str], list[str]]:
    """Every shipped message template, and those with no shipped sample, read from the
    package's folders (so the help of `preview` cannot go stale) without importing it."""
    spec = importlib.util.find_spec("notifications")
    if spec is None or spec.origin is None:
        return [], []
    package = Path(spec.origin).parent
    kinds = sorted(p.name.removesuffix(".json.j2") for p in package.glob("templates/*.json.j2"))
    samples = {p.stem for p in package.glob("samples/*.json")}
    return kinds, [k for k in kinds if k not in samples]


_KINDS, _NO_SAMPLE = _message_kinds()
_PREVIEW_HELP = f"""Render one message KIND to the terminal without sending it.

KIND is a template: {", ".join(_KINDS)}. Without a shipped sample
({", ".join(_NO_SAMPLE) or "none"}), give --data. Templates in SPM_TEMPLATES_DIR
override the shipped ones.
"""


@cli.command(help=_PREVIEW_HELP)
@click.argument("kind")
@click.option("--locale", type=click.Choice(["en", "de", "zh"]), default="en", show_default=True)
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON {subject, recipient, data} (default: the shipped sample of KIND).",
)
@click.option("--zone", default="UTC", show_default=True, help="Recipient's time zone.")
@click.option("--json", "as_json", is_flag=True, help="Print the Block Kit JSON instead.")
@_config_errors
def preview(kind: str, locale: str, data_file: Path | None, zone: str, as_json: bool) -> None:
    from notifications.render import as_terminal, render, sample

    settings = load_settings()
    directory = load_directory(settings.config)
    try:
        given = json.loads(data_file.read_text("utf-8")) if data_file else sample(kind)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--data" if data_file else "KIND") from None
    context = {
        "a": given.get("data", {}),
        "rep": directory.display_name(str(given.get("subject", ""))),
        "name": directory.display_name(str(given.get("recipient", ""))),
        "zone": zone,
        **given.get("context", {}),
    }
    try:
        message = render(kind, locale, context, settings.templates_dir)
    except Exception as exc:  # a user template can fail in any way Jinja can
        raise click.ClickException(f"template {kind!r} ({locale}) failed: {exc!r}") from None
    if as_json:
        click.echo(
            json.dumps(
                {"text": message.text, "blocks": message.blocks}, indent=2, ensure_ascii=False
            )
        )
    else:
        click.echo(as_terminal(message))


def _outbox(settings: Settings) -> Any:
    from redis.asyncio import Redis

    from notifications.outbox import Outbox

    return Outbox(
        Redis.from_url(settings.require_redis(), decode_responses=True), settings.redis_prefix
    )


@cli.group()
def silence() -> None:
    """Mute alerts for a while: by rule (glob) and/or subject (rep or manager id)."""


@silence.command("add")
@click.option("--rule", help="Rule or glob, e.g. nudge, behind_target*, no_show.* (default: all).")
@click.option("--rep", "subject", help="Only alerts about this person id.")
@click.option("--for", "duration", default="1d", show_default=True, help="e.g. 90m, 4h, 2d.")
@click.option("--comment", default="", help="Why; shown in `silence list` and the audit log.")
@click.option("--by", "created_by", default="cli", show_default=True)
@_config_errors
def silence_add(
    rule: str | None, subject: str | None, duration: str, comment: str, created_by: str
) -> None:
    """Add a silence; matching alerts are dropped (and audited) until it ends."""
    from spm_stream.rules.config import parse_duration

    if rule is None and subject is None:
        raise click.UsageError(
            "give --rule, --rep or both (a silence of everything is too easy to forget)"
        )
    try:
        length = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    settings = load_settings()
    require_services(settings, redis=True)

    async def run() -> Any:
        outbox = _outbox(settings)
        now = datetime.now(UTC)
        try:
            return await outbox.add_silence(
                now + length,
                rule=rule,
                subject=subject,
                comment=comment,
                created_by=created_by,
                now=now,
            )
        finally:
            await outbox.redis.aclose()

    made = asyncio.run(run())
    click.echo(f"{made.id}\tuntil {made.until.isoformat()}")


@silence.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_config_errors
def silence_list(fmt: str) -> None:
    """Active silences, soonest to end first."""
    settings = load_settings()
    require_services(settings, redis=True)

    async def run() -> Any:
        outbox = _outbox(settings)
        try:
            return await outbox.silences(datetime.now(UTC))
        finally:
            await outbox.redis.aclose()

    found = asyncio.run(run())
    rows = [json.loads(s.dumps()) for s in found]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        rule, subject = r["rule"] or "*", r["subject"] or "*"
        click.echo(f"{r['id']}\t{rule}\t{subject}\tuntil {r['until']}\t{r['comment']}")
    if not rows:
        click.echo("no active silences", err=True)


@silence.command("remove")
@click.argument("silence_id")
@_config_errors
def silence_remove(silence_id: str) -> None:
    """End a silence now."""
    settings = load_settings()
    require_services(settings, redis=True)

    async def run() -> bool:
        outbox = _outbox(settings)
        try:
            return bool(await outbox.remove_silence(silence_id))
        finally:
            await outbox.redis.aclose()

    if not asyncio.run(run()):
        raise click.ClickException(f"no silence {silence_id!r}")
    click.echo(f"removed {silence_id}")


@cli.group()
def notifications() -> None:
    """What the notifier did."""


@notifications.command("log")
@click.option("--rep", help="Only entries to or about this person id.")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]), help="UTC."
)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_config_errors
def notifications_log(rep: str | None, since: datetime | None, limit: int, fmt: str) -> None:
    """The audit trail: what was sent (or held back) to whom, when and why."""
    settings = load_settings()
    require_services(settings, redis=True)
    since_utc = since.replace(tzinfo=UTC) if since else None

    async def run() -> Any:
        outbox = _outbox(settings)
        try:
            return await outbox.log(recipient=rep, since=since_utc, limit=limit)
        finally:
            await outbox.redis.aclose()

    entries = asyncio.run(run())
    if fmt == "json":
        click.echo(json.dumps([e.as_json() for e in entries], indent=2))
        return
    for e in entries:
        where = f" -> {e.channel}" if e.channel else ""
        why = f"  ({e.reason})" if e.reason else ""
        click.echo(f"{e.at.isoformat()}  {e.status:<13} {e.recipient}{where}  {e.identities}{why}")


@cli.command()
@click.option("--rep", required=True, help="Rep id.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_config_errors
def progress(rep: str, fmt: str) -> None:
    """A rep's points (today, this week), current streak and badges earned."""
    from spm_stream.ranking.gamification import points_of_day, streak

    settings = load_settings()
    require_services(settings, redis=True)
    directory = load_directory(settings.config)
    game = directory.gamification
    cal = directory.calendar_of(rep)
    today = datetime.now(UTC).astimezone(cal.zone).date()
    days = [today - timedelta(days=back) for back in range(game.lookback_days - 1, -1, -1)]

    async def run() -> Any:
        store = Store.from_settings(settings)
        try:
            found = await store.rep_days("org", ORG, [f"day:{d}" for d in days])
            return found.get(rep, []), (await store.badges([rep]))[rep]
        finally:
            await store.close()

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


@cli.group()
def contest() -> None:
    """Contests: named, time-bound competitions on one metric, for reps or teams."""


_WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%z"])


@contest.command("create")
@click.option("--id", "contest_id", required=True, help="Short id: lowercase, digits, - and _.")
@click.option("--name", required=True, help="Shown in the announcements.")
@click.option("--metric", required=True, help="Any board metric (see `leaderboard --help`).")
@click.option("--start", required=True, type=_WHEN, help="Date or time; local to the org zone.")
@click.option(
    "--end", required=True, type=_WHEN, help="Date (the contest ends at its start) or time."
)
@click.option("--between", type=click.Choice(["reps", "teams"]), default="reps", show_default=True)
@click.option("--team", help="Only this team's reps.")
@click.option("--prize", default="", help="Prize text, e.g. 'Dinner for two'.")
@click.option("--channel", help="Slack channel for the start, milestone and end announcements.")
@click.option(
    "--milestones", default="50", show_default=True, help="Percents of the time, e.g. 25,50,90."
)
@click.option("--top", default=3, show_default=True, type=click.IntRange(1, 50))
@_config_errors
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
        store = Store.from_settings(settings)
        try:
            return await store.add_contest(made)
        finally:
            await store.close()

    if not asyncio.run(run()):
        raise click.UsageError(f"--id: a contest {contest_id!r} exists already")
    click.echo(f"created {made.id}: {made.start.isoformat()} -> {made.end.isoformat()}")


@contest.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_config_errors
def contest_list(fmt: str) -> None:
    """Every contest with its status (upcoming, running, ended)."""
    settings = load_settings()
    require_services(settings, redis=True)

    async def run() -> Any:
        store = Store.from_settings(settings)
        try:
            return await store.contests()
        finally:
            await store.close()

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
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@_config_errors
def contest_standings_command(contest_id: str, fmt: str) -> None:
    """A contest's standings now (ties to the earlier achiever)."""
    from spm_stream.reports.query import contest_standings

    settings = load_settings()
    require_services(settings, redis=True)
    directory = load_directory(settings.config)

    async def run() -> Any:
        store = Store.from_settings(settings)
        try:
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
        finally:
            await store.close()

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


def _sync_redis(settings: Settings) -> Any:
    from redis import Redis

    return Redis.from_url(settings.require_redis())


@cli.group()
def dlq() -> None:
    """Inspect dead letters (rejected events and CRM payloads, with reasons) and send them back.

    \b
    Typical workflow:
      spm-stream dlq list --open            # what was rejected, and why
      spm-stream dlq show 0:42              # one letter with its payload
      # fix the cause (e.g. add the owner to crm.<crm>.owners in SPM_CONFIG), then:
      spm-stream dlq replay --all           # maps CRM payloads again, re-validates events
      # or correct events by hand and send those:
      spm-stream dlq replay 0:42 --fixed fixed.jsonl
    """


@dlq.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only letters not replayed yet.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@_config_errors
def dlq_list(only_open: bool, limit: int, fmt: str) -> None:
    """The latest dead letters: id (partition:offset), time, source, field and reason."""
    from spm_stream.ingestion.dlq import read_dead_letters

    settings = load_settings()
    require_services(settings, kafka=True, redis=True)
    letters = read_dead_letters(settings, _sync_redis(settings))
    if only_open:
        letters = [letter for letter in letters if letter.replayed is None]
    letters = letters[-limit:]
    if fmt == "json":
        click.echo(json.dumps([letter.as_json() for letter in letters], indent=2))
        return
    if not letters:
        click.echo("no dead letters" + (" open" if only_open else ""))
    for letter in letters:
        state = "replayed" if letter.replayed else "open"
        where = f"{letter.field}: " if letter.field else ""
        click.echo(
            f"{letter.id:>8}  {letter.at:%Y-%m-%d %H:%M:%S}  {state:<8}  {letter.source:<22}  "
            f"{where}{letter.reason}"
        )


@dlq.command("show")
@click.argument("letter_id")
@_config_errors
def dlq_show(letter_id: str) -> None:
    """One dead letter as JSON, with its payload (edit it into a --fixed file)."""
    from spm_stream.ingestion.dlq import read_dead_letters

    settings = load_settings()
    require_services(settings, kafka=True, redis=True)
    found = [x for x in read_dead_letters(settings, _sync_redis(settings)) if x.id == letter_id]
    if not found:
        raise click.UsageError(f"LETTER_ID: no dead letter {letter_id!r} (see `dlq list`)")
    click.echo(json.dumps(found[0].as_json(full=True), indent=2, ensure_ascii=False))


@dlq.command("replay")
@click.argument("letter_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every open dead letter.")
@click.option(
    "--fixed",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON Lines of corrected canonical events to send instead (marks LETTER_IDS replayed).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent; send nothing.")
@_config_errors
def dlq_replay(
    letter_ids: tuple[str, ...], replay_all: bool, fixed: Path | None, dry_run: bool
) -> None:
    """Send dead letters back to the input topic, mapped again with the current config.

    CRM payloads are mapped again with the crm: section of SPM_CONFIG; canonical
    events are validated again. Letters that still fail are listed with their
    reason and stay open (exit code 1). Replaying is safe to repeat: event ids
    already counted are skipped by the worker.
    """
    from spm_stream.ingestion.dlq import fixed_events, read_dead_letters, replay, revive

    settings = load_settings()
    require_services(settings, kafka=True, redis=True)
    directory = load_directory(settings.config)
    redis = _sync_redis(settings)
    letters = read_dead_letters(settings, redis)
    by_id = {letter.id: letter for letter in letters}
    unknown = [i for i in letter_ids if i not in by_id]
    if unknown:
        raise click.UsageError(f"LETTER_IDS: no dead letter {', '.join(unknown)} (see `dlq list`)")
    if not letter_ids and not replay_all and fixed is None:
        raise click.UsageError("name LETTER_IDS, or use --all or --fixed FILE")
    chosen = [by_id[i] for i in letter_ids] or (
        [x for x in letters if x.replayed is None] if replay_all else []
    )
    failures: list[str] = []
    events: list[tuple[bytes, bytes]] = []
    revived = []
    if fixed is not None:
        events, failures = fixed_events(fixed)
        revived = chosen if not failures else []
    else:
        now = datetime.now(UTC)
        for letter in chosen:
            outcome = revive(letter, directory.crm, now, directory.roster())
            if outcome.rejects:
                failures += [
                    f"{letter.id}: {r.field + ': ' if r.field else ''}{r.reason}"
                    for r in outcome.rejects
                ]
                continue
            events += outcome.events
            revived.append(letter)
    if dry_run:
        click.echo(f"would send {len(events)} events for {len(revived)} dead letters")
    else:
        sent = replay(settings, redis, revived, events)
        click.echo(f"sent {sent} events to {settings.topic}; {len(revived)} dead letters replayed")
    for failure in failures:
        click.echo(f"still failing: {failure}", err=True)
    if failures:
        sys.exit(1)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the canonical event (committed as spm_stream/contract/schema/)."""
    from spm_stream.contract.events import event_json_schema

    click.echo(json.dumps(event_json_schema(), indent=2, ensure_ascii=False))


@cli.group()
def tv() -> None:
    """Signed links for TV screens, which cannot send the API token.

    \b
    A link shows one screen's boards and nothing else; it is signed with a key
    derived from SPM_API_TOKEN (a new token voids every link).
      spm-stream tv link lobby --team emea-smb --metrics calls,deals_won
      spm-stream tv revoke lobby          # that screen's link stops working at once
    """


@tv.command("link")
@click.argument("screen")
@click.option("--team", help="Team whose boards the screen shows (default: the org).")
@click.option("--contest", help="Show a contest's standings instead.")
@click.option("--metrics", help="Comma-separated board metrics (at most 6).")
@click.option("--period", help="day, week, month, rolling_7 or rolling_30 (default week).")
@click.option("--locale", type=click.Choice(["en", "de", "zh"]), help="Language of the page.")
@click.option(
    "--base-url",
    default=None,
    help="Where screens reach the worker (default: SPM_PUBLIC_URL, else http://SPM_WEB_HOST:PORT).",
)
@_config_errors
def tv_link(
    screen: str,
    team: str | None,
    contest: str | None,
    metrics: str | None,
    period: str | None,
    locale: str | None,
    base_url: str | None,
) -> None:
    """Print the signed /tv link of SCREEN (a name of your choice, e.g. "lobby")."""
    from urllib.parse import urlencode

    from spm_stream.access import sign_tv_query, tv_key

    settings = load_settings()
    if settings.api_token is None:
        raise ConfigError("SPM_API_TOKEN is not set: TV links are signed with it")
    given = {
        "team": team,
        "contest": contest,
        "metrics": metrics,
        "period": period,
        "locale": locale,
    }
    query = {k: v for k, v in given.items() if v}
    signed = sign_tv_query(tv_key(settings.api_token.get_secret_value()), screen, query)
    base = base_url or settings.public_url or f"http://{settings.web_host}:{settings.web_port}"
    click.echo(f"{base.rstrip('/')}/tv?{urlencode(signed)}")


@tv.command("revoke")
@click.argument("screen")
@_config_errors
def tv_revoke(screen: str) -> None:
    """Void SCREEN's links now (open streams close within their refresh interval)."""
    _tv_revoked(screen, revoke=True)
    click.echo(f"revoked: {screen}")


@tv.command("allow")
@click.argument("screen")
@_config_errors
def tv_allow(screen: str) -> None:
    """Undo `tv revoke SCREEN`: its old links work again."""
    _tv_revoked(screen, revoke=False)
    click.echo(f"allowed: {screen}")


def _tv_revoked(screen: str, *, revoke: bool) -> None:
    settings = load_settings()
    require_services(settings, redis=True)

    async def run() -> None:
        store = Store.from_settings(settings)
        try:
            key = store.keys.tv_revoked()
            await (store.redis.sadd(key, screen) if revoke else store.redis.srem(key, screen))
        finally:
            await store.close()

    asyncio.run(run())


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@_config_errors
def config_check() -> None:
    """Validate everything the service reads, and print it with secrets redacted.

    \b
    Errors (exit 2, one line naming the variable, file and key):
      SPM_* settings, the people file (SPM_CONFIG), the targets file (SPM_TARGETS:
      metrics, periods, currencies, numbers, reps and teams the people file has),
      duplicate YAML keys, template overrides (SPM_TEMPLATES_DIR), and a read API
      reachable from other machines without SPM_API_TOKEN.
    Warnings: unknown SPM_* variables, an empty people file, people Slack cannot reach.
    """
    settings = load_settings()
    settings.check_exposure()
    checked = _checked(settings)
    directory = checked.directory
    warnings = checked.warnings + _check_notifications(settings, directory)
    click.echo(
        json.dumps(
            {
                "settings": settings.redacted(),
                "teams": len(directory.teams),
                "people": len(directory.people),
                "reps": len(directory.reps()),
                "managers": len(directory.managers()),
                "warnings": warnings,
            },
            indent=2,
        )
    )


def _check_notifications(settings: Settings, directory: Any) -> list[str]:
    """Fail on templates that do not render; warn about people Slack cannot reach."""
    from notifications.render import check_templates

    problems = check_templates(directory.locales(), settings.templates_dir)
    if problems:
        raise ConfigError("SPM_TEMPLATES_DIR: " + "; ".join(problems))
    warnings: list[str] = directory.unreachable()
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return warnings


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="spm-stream")
