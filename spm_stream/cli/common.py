"""What every command shares: the error handling, option types and store sessions."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import click
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from spm_stream.config.checks import Checked, ServiceDown, check_configuration, require_services
from spm_stream.config.settings import ConfigError, Settings, load_settings
from spm_stream.reports.report import SCOPE_KINDS
from spm_stream.store.redis_store import Store
from spm_stream.time.windows import PERIOD_KINDS

F = TypeVar("F", bound=Callable[..., Any])


class ServiceProblem(click.ClickException):
    """Kafka or Redis is not there: one line naming the address, exit code 69 (sysexits'
    EX_UNAVAILABLE), so scripts can tell it from a configuration error."""

    exit_code = 69


class ConfigProblem(click.ClickException):
    """A configuration error: one line naming what to fix, exit code 2, no usage text
    (the command was typed right; a variable or file is wrong)."""

    exit_code = 2


def config_errors(fn: F) -> F:
    """Turn configuration errors into a one-line CLI error (exit code 2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            raise ConfigProblem(str(exc)) from None
        except ServiceDown as exc:
            raise ServiceProblem(str(exc)) from None
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Up at the start, gone since: still one line, not the client's traceback.
            raise ServiceProblem(f"Redis stopped answering (SPM_REDIS_URL): {exc}") from None
        except (KafkaTimeoutError, KafkaConnectionError) as exc:
            raise ServiceProblem(f"Kafka stopped answering (SPM_KAFKA_URL): {exc}") from None

    return wrapper  # type: ignore[return-value]


def require_given_services() -> None:
    """For commands that start embedded services unless SPM_KAFKA_URL/SPM_REDIS_URL point
    elsewhere (demo, bench): the ones pointed at must answer."""
    given = load_settings()
    require_services(given, kafka=given.kafka_url is not None, redis=given.redis_url is not None)


def checked_config(settings: Settings) -> Checked:
    """The configuration files, cross-checked; warnings printed to stderr."""
    checked = check_configuration(settings, os.environ)
    for warning in checked.warnings:
        click.echo(f"warning: {warning}", err=True)
    return checked


PERIOD = click.Choice(list(PERIOD_KINDS))
SCOPE = click.Choice(list(SCOPE_KINDS))


def board_metric(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from spm_stream.ranking.leaderboards import check_metric

    try:
        return check_metric(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


WHEN = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%z"])


@contextlib.asynccontextmanager
async def open_notify_state(settings: Settings) -> AsyncIterator[Any]:
    """The notifier's state (silences, audit, outbox) for one command, closed at the end."""
    from redis.asyncio import Redis

    from notifications.state import NotifyState

    redis = Redis.from_url(settings.require_redis(), decode_responses=True)
    state = NotifyState.on(redis, settings.redis_prefix)
    try:
        yield state
    finally:
        await state.close()


def sync_redis(settings: Settings) -> Any:
    from redis import Redis

    return Redis.from_url(settings.require_redis())


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The Redis store for one command, closed however the command ends."""
    store = Store.from_settings(settings)
    try:
        yield store
    finally:
        await store.close()


def format_option(default: str = "table") -> Callable[[F], F]:
    """``--format table|json``, the same on every command that prints data."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default=default,
        show_default=True,
        help="table for people, json for scripts.",
    )


def redis_settings() -> Settings:
    """The settings of a command that needs Redis, which must answer (else exit 69)."""
    settings = load_settings()
    require_services(settings, redis=True)
    return settings
