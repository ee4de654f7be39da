"""Running the service: the worker, its topics, `config check` and the event schema."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    checked_config,
    config_errors,
)
from spm_stream.config.checks import require_services
from spm_stream.config.settings import ConfigError, Settings, load_settings


@cli.command()
@config_errors
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
    directory = checked_config(settings).directory
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


@cli.command()
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=os.cpu_count() or 1,
    show_default="the cores",
    help="Processes, each owning whole partitions.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON, no progress bar.")
@config_errors
def rebuild(processes: int, as_json: bool) -> None:
    """Catch the store up with the log in bulk, with the workers stopped.

    Each partition is read from after the store's watermark to its end offset now, by
    one of PROCESSES processes, through the same validation, planning and Lua apply as
    the worker: an event is counted once however often this runs or is interrupted.
    Then the workers' consumer group resumes after it. Refuses while workers are running
    (running workers catch up by themselves: SPM_CATCHUP_LAG).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from agents.bulk import rebuild as run_rebuild
    from spm_stream.ingestion.topics import ensure_topics

    settings = load_settings()
    checked_config(settings)
    require_services(settings, kafka=True, redis=True)
    ensure_topics(settings)
    if as_json:
        summary = run_rebuild(settings, processes, lambda done, total, seconds: None)
        click.echo(json.dumps(summary))
        return
    columns = (
        TextColumn("rebuild"),
        BarColumn(),
        # The total is unknown until the plan is made, and the bar may be drawn before.
        TextColumn("{task.completed:,.0f}/{task.fields[of]} events · {task.fields[rate]}/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("rebuild", total=None, rate="0", of="?")

        def shown(done: int, total: int, seconds: float) -> None:
            rate = f"{done / seconds:,.0f}" if seconds > 0 else "0"
            bar.update(task, completed=done, total=max(total, 1), rate=rate, of=f"{total:,}")

        summary = run_rebuild(settings, processes, shown)
    if not summary["events"]:
        click.echo("Nothing to rebuild: the store is already at the end of the log.")
        return
    click.echo(
        f"{summary['events']:,} events in {summary['seconds']} s "
        f"({summary['events_per_s']:,}/s, {summary['steady_events_per_s']:,}/s once started, "
        f"{summary['processes']} processes): "
        f"{summary['counted']:,} counted, {summary['duplicates']:,} duplicates, "
        f"{summary['rejected']:,} to the DLQ"
    )


@cli.group()
def topics() -> None:
    """Manage the Kafka topics spm-stream uses."""


@topics.command("create")
@config_errors
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
def schema() -> None:
    """Print the JSON Schema of the canonical event (committed as spm_stream/contract/schema/)."""
    from spm_stream.contract.events import event_json_schema

    click.echo(json.dumps(event_json_schema(), indent=2, ensure_ascii=False))


@cli.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
@config_errors
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
    checked = checked_config(settings)
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
