"""Slack from the command line: post a board, preview messages, silences and the log."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    config_errors,
    format_option,
    open_notify_state,
    open_store,
    redis_settings,
)
from spm_stream.config.directory import load_directory
from spm_stream.config.settings import ConfigError, load_settings


@cli.command("post-leaderboard")
@click.option("--team", "team", required=True, help="Team id whose channel gets the board.")
@click.option("--metric", default="calls", show_default=True)
@click.option("--force", is_flag=True, help="Update the message even if nothing changed.")
@config_errors
def post_leaderboard(team: str, metric: str, force: bool) -> None:
    """Post a team's leaderboard to its Slack channel, or edit today's message in place.

    The first run of the day posts a message (chat.postMessage); later runs
    edit that same message (chat.update), and do nothing if the board is
    unchanged. Needs SPM_SLACK_TOKEN and a channel for the team in SPM_CONFIG.
    """
    from notifications.boards import sync_board
    from notifications.slack import make_client
    from spm_stream.ranking.boards import BoardSpec

    settings = redis_settings()
    directory = load_directory(settings.config)
    if team not in directory.teams:
        raise click.BadParameter(
            f"unknown team {team!r} (teams in SPM_CONFIG: {', '.join(directory.teams) or 'none'})",
            param_hint="--team",
        )
    channel = directory.teams[team].channel
    if channel is None:
        raise ConfigError(f"teams.{team}.channel: not set; the board has nowhere to go")
    spec = BoardSpec(channel=channel, team=team, metric=metric)

    async def run() -> str:
        async with open_store(settings) as store:
            return await sync_board(
                store, make_client(settings), directory, spec, now=datetime.now(UTC), force=force
            )

    click.echo(asyncio.run(run()))


def _message_kinds() -> tuple[list[str], list[str]]:
    """Every shipped message template, and those with no shipped sample, read from the
    package's folders (so the help of `preview` cannot go stale) without importing it."""
    spec = importlib.util.find_spec("notifications")
    if spec is None or spec.origin is None:
        return [], []
    package = Path(spec.origin).parent
    kinds = sorted(p.name.removesuffix(".json.j2") for p in package.glob("templates/*.json.j2"))
    samples = {p.stem for p in package.glob("samples/*.json")}
    samples |= {p.stem for p in package.glob("samples/app/*.json")}  # /spm and App Home views
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
@config_errors
def preview(kind: str, locale: str, data_file: Path | None, zone: str, as_json: bool) -> None:
    from notifications.render import APP_SAMPLES, app_sample, as_terminal, render, sample

    settings = load_settings()
    directory = load_directory(settings.config)
    app_view = data_file is None and (APP_SAMPLES / f"{kind}.json").is_file()
    try:
        if app_view:
            given = app_sample(kind)
        else:
            given = json.loads(data_file.read_text("utf-8")) if data_file else sample(kind)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--data" if data_file else "KIND") from None
    context = (
        {**given, "zone": zone}
        if app_view
        else {
            "a": given.get("data", {}),
            "rep": directory.display_name(str(given.get("subject", ""))),
            "name": directory.display_name(str(given.get("recipient", ""))),
            "zone": zone,
            **given.get("context", {}),
        }
    )
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


@cli.group()
def silence() -> None:
    """Mute alerts for a while: by rule (glob) and/or subject (rep or manager id)."""


@silence.command("add")
@click.option("--rule", help="Rule or glob, e.g. nudge, behind_target*, no_show.* (default: all).")
@click.option("--rep", "subject", help="Only alerts about this person id.")
@click.option("--for", "duration", default="1d", show_default=True, help="e.g. 90m, 4h, 2d.")
@click.option("--comment", default="", help="Why; shown in `silence list` and the audit log.")
@click.option("--by", "created_by", default="cli", show_default=True)
@config_errors
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
    settings = redis_settings()

    async def run() -> Any:
        now = datetime.now(UTC)
        async with open_notify_state(settings) as state:
            return await state.silences.add(
                now + length,
                rule=rule,
                subject=subject,
                comment=comment,
                created_by=created_by,
                now=now,
            )

    made = asyncio.run(run())
    click.echo(f"{made.id}\tuntil {made.until.isoformat()}")


@silence.command("list")
@format_option()
@config_errors
def silence_list(fmt: str) -> None:
    """Active silences, soonest to end first."""
    settings = redis_settings()

    async def run() -> Any:
        async with open_notify_state(settings) as state:
            return await state.silences.find(datetime.now(UTC))

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
@config_errors
def silence_remove(silence_id: str) -> None:
    """End a silence now."""
    settings = redis_settings()

    async def run() -> bool:
        async with open_notify_state(settings) as state:
            return bool(await state.silences.remove(silence_id))

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
@format_option()
@config_errors
def notifications_log(rep: str | None, since: datetime | None, limit: int, fmt: str) -> None:
    """The audit trail: what was sent (or held back) to whom, when and why."""
    settings = redis_settings()
    since_utc = since.replace(tzinfo=UTC) if since else None

    async def run() -> Any:
        async with open_notify_state(settings) as state:
            return await state.audit.log(recipient=rep, since=since_utc, limit=limit)

    entries = asyncio.run(run())
    if fmt == "json":
        click.echo(json.dumps([e.as_json() for e in entries], indent=2))
        return
    for e in entries:
        where = f" -> {e.channel}" if e.channel else ""
        why = f"  ({e.reason})" if e.reason else ""
        click.echo(f"{e.at.isoformat()}  {e.status:<13} {e.recipient}{where}  {e.identities}{why}")
