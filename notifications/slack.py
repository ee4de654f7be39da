"""Slack delivery on slack-sdk's typed async client.

Retries follow slack-sdk's own handlers: HTTP 429 honours ``Retry-After``,
5xx and connection errors back off. ``post_or_update`` keeps one message
current with ``chat.update`` instead of posting a new one per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from notifications.render import Message
from spm_stream.config.settings import ConfigError, Settings

__all__ = ["Posted", "make_client", "post_or_update"]


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message now lives, and whether it was new."""

    channel: str
    ts: str
    created: bool


def make_client(settings: Settings, *, outbox: bool = False, timeout: float = 10) -> AsyncWebClient:
    """An AsyncWebClient for the configured workspace (or the local Slack server).

    With ``outbox=True`` (the notifier) the client retries only a rate limit once,
    after its Retry-After: the outbox reschedules anything else with its own
    backoff, so a long outage does not block the delivery loop.
    """
    if settings.slack_token is None:
        raise ConfigError("SPM_SLACK_TOKEN is not set: Slack delivery needs a bot token")
    handlers: list[Any] = [AsyncRateLimitErrorRetryHandler(max_retry_count=1 if outbox else 5)]
    if not outbox:
        handlers += [
            AsyncConnectionErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ]
    return AsyncWebClient(
        token=settings.slack_token.get_secret_value(),
        base_url=settings.slack_base_url,
        timeout=int(timeout) if timeout >= 1 else 1,
        retry_handlers=handlers,
    )


async def post_or_update(
    client: AsyncWebClient, channel: str, message: Message, ts: str | None = None
) -> Posted:
    """Edit the message at ``ts`` in ``channel``; post a new one if there is none (any more)."""
    if ts is not None:
        try:
            response = await client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            )
            return Posted(str(response["channel"]), str(response["ts"]), created=False)
        except SlackApiError as exc:
            # Deleted by someone in the channel: start a fresh message.
            if exc.response.get("error") not in ("message_not_found", "cant_update_message"):
                raise
    response = await client.chat_postMessage(
        channel=channel, text=message.text, blocks=message.blocks, unfurl_links=False
    )
    return Posted(str(response["channel"]), str(response["ts"]), created=True)
