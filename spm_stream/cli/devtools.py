"""Developer commands: the local Slack server, the demo and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    config_errors,
    require_given_services,
)
from spm_stream.config.directory import load_directory
from spm_stream.config.settings import load_settings


@cli.command("slack-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--token", help="Accept only this token (default: any non-empty token).")
@click.option(
    "--app-url",
    help="The worker's base URL (e.g. http://127.0.0.1:6066): where /spm, App Home events "
    "and button clicks from the page are sent, signed.",
)
@click.option(
    "--signing-secret",
    envvar="SPM_SLACK_SIGNING_SECRET",
    help="Signs what the server sends to --app-url (default: SPM_SLACK_SIGNING_SECRET).",
)
@click.option(
    "--people",
    envvar="SPM_CONFIG",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="People file whose names the page shows for Slack ids (default: SPM_CONFIG).",
)
@config_errors
def slack_server(
    host: str,
    port: int,
    token: str | None,
    app_url: str | None,
    signing_secret: str | None,
    people: Path | None,
) -> None:
    """Run the local Slack-Web-API-compatible server (for the demo and the tests).

    Point SPM_SLACK_BASE_URL at http://HOST:PORT/api/. Received messages, App Home tabs
    and private answers are shown at http://HOST:PORT/ (messages as JSON at /_messages);
    with --app-url and --signing-secret its page sends /spm and button clicks to the app.
    """
    from spm_stream.devtools.slack_server import run_forever

    names: dict[str, str] = {}
    if people is not None:
        directory = load_directory(people)
        names = {p.slack_id: p.name or pid for pid, p in directory.people.items() if p.slack_id}

    click.echo(
        f"local Slack on http://{host}:{port}/ (API base http://{host}:{port}/api/)", err=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_forever(
                host, port, token, app_url=app_url, signing_secret=signing_secret, people=names
            )
        )


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
@config_errors
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

    require_given_services()
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
@click.option(
    "--rebuild-processes",
    default="1,2",
    show_default=True,
    help="Process counts of the `spm-stream rebuild` runs, comma-separated; '' skips them.",
)
@click.option("--json", "as_json", is_flag=True, help="No progress lines: only the JSON line.")
@config_errors
def bench(
    n: int,
    workers: int,
    latency_rate: float,
    latency_seconds: float,
    rounds: int,
    keep: bool,
    rebuild_processes: str,
    as_json: bool,
) -> None:
    """Measure pipeline throughput and latency against the raw ceiling, in one run.

    Runs on a fresh topic and key prefix: the embedded broker and Redis by
    default, or SPM_KAFKA_URL / SPM_REDIS_URL, where the run's topics and keys
    are deleted at the end unless --keep. The last line is JSON with
    events_per_s, ceiling_events_per_s, faust_noop_events_per_s, ratio,
    ratio_to_faust_noop, p50_ms, p99_ms, rss_mb, and for each rebuild run
    rebuild_<N>p_events_per_s and rebuild_<N>p_ratio, with its profile (µs per
    event by stage) under "rebuild". See BENCHMARKS.md.
    """
    from spm_stream.devtools.bench import BenchOptions, run_bench
    from spm_stream.logs import configure_logging

    require_given_services()
    configure_logging("warn")
    options = BenchOptions(
        events=n,
        workers=workers,
        latency_rate=latency_rate,
        latency_seconds=latency_seconds,
        rounds=rounds,
        keep=keep,
        rebuild=_process_counts(rebuild_processes),
    )
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))
    click.echo(json.dumps(run_bench(options, say=say)))


def _process_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = (0,)
    if any(not 1 <= count <= 64 for count in counts):
        raise click.BadParameter(f"{text!r}: process counts 1-64, comma-separated, e.g. 1,2")
    return counts


@cli.command("bench-noop-worker", hidden=True)
@click.option("--expected", type=int, required=True)
@config_errors
def bench_noop_worker(expected: int) -> None:
    """The benchmark's do-nothing Faust worker (started by `spm-stream bench`)."""
    from faust.worker import Worker

    from agents.noop import create_noop_app

    settings = load_settings()
    Worker(
        create_noop_app(settings, expected), loglevel="warn", quiet=True
    ).execute_from_commandline()
