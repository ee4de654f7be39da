"""Slack interactivity: the "snooze 1 day" button on nudges, with Slack's request signature.

Slack signs every interactive request with the app's signing secret
(``X-Slack-Signature``, ``X-Slack-Request-Timestamp``; requests older than five
minutes are refused). slack-sdk's ``SignatureVerifier`` checks both. Only the
rep the nudge is about, or that rep's manager, may snooze it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from notifications.state import NotifyState
from spm_stream.config.directory import Directory

__all__ = ["SNOOZE_RULES", "handle_interaction"]

#: What "snooze" mutes for the rep: the daily nudge and the pace alerts, not the no-show watch.
SNOOZE_RULES: Final = ("nudge", "behind_target*")
SNOOZE_FOR: Final = timedelta(days=1)
#: Slack's signature window (five minutes) and a minute of clock skew.
REPLAY_WINDOW_S: Final = 6 * 60


async def handle_interaction(
    body: bytes,
    headers: Mapping[str, str],
    signing_secret: str,
    state: NotifyState,
    directory: Directory,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    """Verify and handle one interactive request; return (HTTP status, JSON body)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get("x-slack-request-timestamp", "")
    # slack-sdk's verifier int()s the timestamp: a non-numeric one would be a 500.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return 401, {"error": "invalid or expired Slack signature"}
    if not SignatureVerifier(signing_secret).is_valid_request(body, lowered):
        return 401, {"error": "invalid or expired Slack signature"}
    try:
        payload = json.loads(parse_qs(body.decode())["payload"][0])
        action = payload["actions"][0]
        user = str(payload["user"]["id"])
    except (KeyError, IndexError, ValueError, TypeError, UnicodeDecodeError):
        return 400, {"error": "expected a block_actions payload"}
    # A signed request stays valid for five minutes: one replayed in that window (by
    # Slack or by someone who saw it) is answered, and does nothing again.
    once = str(payload.get("trigger_id") or action.get("action_ts") or "")
    if once and not await state.replays.first_time(f"interaction:{once}", REPLAY_WINDOW_S):
        return 200, {"ok": True, "duplicate": True}
    kind, _, rep = str(action.get("value", "")).partition(":")
    if action.get("action_id") != "snooze" or kind != "snooze" or rep not in directory.people:
        return 400, {"error": "unknown action"}
    allowed = {directory.people[rep].slack_id}
    manager = directory.manager_of(rep)
    if manager is not None:
        allowed.add(directory.people[manager].slack_id)
    if user not in allowed:
        return 403, {"error": f"{user} may not snooze {rep}'s nudges"}
    until = now + SNOOZE_FOR
    made = [
        await state.silences.add(
            until, rule=rule, subject=rep, comment="snooze button", created_by=user, now=now
        )
        for rule in SNOOZE_RULES
    ]
    return 200, {"ok": True, "snoozed_until": until.isoformat(), "silences": [s.id for s in made]}
