"""TV screens: signed links, revoking and allowing them again."""

from __future__ import annotations

import asyncio

import click

from spm_stream.cli.app import cli
from spm_stream.cli.common import (
    config_errors,
    open_store,
    redis_settings,
)
from spm_stream.config.settings import ConfigError, load_settings


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
@config_errors
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
@config_errors
def tv_revoke(screen: str) -> None:
    """Void SCREEN's links now (open streams close within their refresh interval)."""
    _tv_revoked(screen, revoke=True)
    click.echo(f"revoked: {screen}")


@tv.command("allow")
@click.argument("screen")
@config_errors
def tv_allow(screen: str) -> None:
    """Undo `tv revoke SCREEN`: its old links work again."""
    _tv_revoked(screen, revoke=False)
    click.echo(f"allowed: {screen}")


def _tv_revoked(screen: str, *, revoke: bool) -> None:
    settings = redis_settings()

    async def run() -> None:
        async with open_store(settings) as store:
            key = store.keys.tv_revoked()
            await (store.redis.sadd(key, screen) if revoke else store.redis.srem(key, screen))

    asyncio.run(run())
