"""Requests from Slack: signed with the app's signing secret, fresh, and seen once.

Slack signs every request it sends (slash commands, Events API callbacks,
interactivity) with ``X-Slack-Signature`` over ``v0:<timestamp>:<body>`` and
``X-Slack-Request-Timestamp``; a request older than five minutes is refused
(slack-sdk's ``SignatureVerifier`` checks both). A signed request could still be
sent again by anyone who saw it within those five minutes, so each signature is
remembered for the window plus a minute of skew: the same request twice is a
replay and gets 401 like a forged or stale one. Slack's own retries of an Events
API delivery are signed anew, so they pass here and are deduplicated by event id
(``notifications.slackapp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from slack_sdk.signature import Clock, SignatureVerifier

from notifications.replays import Replays

__all__ = ["REPLAY_WINDOW_S", "refused"]

#: Slack's signature window (five minutes) and a minute of clock skew.
REPLAY_WINDOW_S: Final = 6 * 60


class _At(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


async def refused(
    body: bytes,
    headers: Mapping[str, str],
    signing_secret: str,
    replays: Replays,
    now: float,
) -> str | None:
    """Why a request is not Slack's fresh, first request (forged, stale, replayed); None
    when it is. ``now`` is the wall clock in epoch seconds."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get("x-slack-request-timestamp", "")
    signature = lowered.get("x-slack-signature", "")
    # slack-sdk's verifier int()s the timestamp: a non-numeric one would be a 500.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or not signature:
        return "missing Slack signature"
    if abs(now - int(stamp)) > 5 * 60:
        return "stale Slack request (older than five minutes)"
    if not SignatureVerifier(signing_secret, _At(now)).is_valid_request(body, lowered):
        return "invalid Slack signature"
    if not await replays.first_time(f"signature:{signature}", REPLAY_WINDOW_S):
        return "replayed Slack request"
    return None
