"""Getting events in and back: replay, generate, import and the dead-letter queue."""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    config_errors,
    format_option,
    sync_redis,
)
from spm_stream.config.checks import require_services
from spm_stream.config.directory import load_directory
from spm_stream.config.settings import load_settings


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--topic", help="Target topic (default: SPM_TOPIC).")
@config_errors
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
@config_errors
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
@config_errors
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
@format_option()
@config_errors
def dlq_list(only_open: bool, limit: int, fmt: str) -> None:
    """The latest dead letters: id (partition:offset), time, source, field and reason."""
    from spm_stream.ingestion.dlq import read_dead_letters

    settings = load_settings()
    require_services(settings, kafka=True, redis=True)
    letters = read_dead_letters(settings, sync_redis(settings))
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
@config_errors
def dlq_show(letter_id: str) -> None:
    """One dead letter as JSON, with its payload (edit it into a --fixed file)."""
    from spm_stream.ingestion.dlq import read_dead_letters

    settings = load_settings()
    require_services(settings, kafka=True, redis=True)
    found = [x for x in read_dead_letters(settings, sync_redis(settings)) if x.id == letter_id]
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
@config_errors
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
    redis = sync_redis(settings)
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
