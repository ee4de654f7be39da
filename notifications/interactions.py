"""Buttons people click in Slack: snooze a nudge, mark a no-show rescheduled, or snooze it.

- ``snooze`` (the morning nudge): mutes the rep's nudges and pace alerts for a day.
- ``rescheduled`` (a no-show DM, the nudge, App Home): closes the meeting's no-show watch,
  so nobody is reminded again, and records who did it in the audit trail.
- ``snooze_no_show``: the no-show's next reminder comes a day later.

Only the rep, or the rep's manager, may click for the rep. The request is verified by
``notifications.slackapp`` first; each click returns what to confirm to the clicker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from notifications.state import NotifyState
from spm_stream.config.directory import Directory
from spm_stream.rules.noshow import Watch
from spm_stream.store.redis_store import Store

__all__ = ["SNOOZE_FOR", "SNOOZE_RULES", "Clicked", "click"]

#: What "snooze" mutes for the rep: the daily nudge and the pace alerts, not the no-show watch.
SNOOZE_RULES: Final = ("nudge", "behind_target*")
SNOOZE_FOR: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Clicked:
    """What a click did: HTTP status, the JSON answer, and the label (with its values) that
    confirms it to the person who clicked."""

    status: int
    body: dict[str, Any]
    label: str
    values: dict[str, str]
    rep: str | None = None


def _allowed(directory: Directory, rep: str) -> set[str | None]:
    allowed = {directory.people[rep].slack_id} if rep in directory.people else set()
    manager = directory.manager_of(rep)
    if manager is not None and manager in directory.people:
        allowed.add(directory.people[manager].slack_id)
    return allowed


async def click(
    action: dict[str, Any],
    user: str,
    *,
    state: NotifyState,
    store: Store,
    directory: Directory,
    now: datetime,
) -> Clicked:
    """Do what one button asks, for ``user`` (a Slack user id)."""
    action_id = str(action.get("action_id", ""))
    kind, _, arg = str(action.get("value", "")).partition(":")
    if action_id == "snooze" and kind == "snooze" and arg in directory.people:
        return await _snooze(arg, user, state, directory, now)
    if kind in ("rescheduled", "snooze_no_show") and action_id.startswith(kind) and arg:
        return await _no_show(kind, arg, user, state, store, directory, now)
    return Clicked(400, {"error": "unknown action"}, "bad_command", {"text": action_id})


async def _snooze(
    rep: str, user: str, state: NotifyState, directory: Directory, now: datetime
) -> Clicked:
    if user not in _allowed(directory, rep):
        return Clicked(
            403, {"error": f"{user} may not snooze {rep}'s nudges"}, "action_refused", {}
        )
    until = now + SNOOZE_FOR
    made = [
        await state.silences.add(
            until, rule=rule, subject=rep, comment="snooze button", created_by=user, now=now
        )
        for rule in SNOOZE_RULES
    ]
    body = {"ok": True, "snoozed_until": until.isoformat(), "silences": [s.id for s in made]}
    return Clicked(200, body, "confirm_snoozed", {"until": until.isoformat()}, rep)


async def _no_show(
    kind: str,
    meeting: str,
    user: str,
    state: NotifyState,
    store: Store,
    directory: Directory,
    now: datetime,
) -> Clicked:
    found = [
        (p, raw, w)
        for p, raw in await store.open_watches()
        if (w := Watch.loads(raw)).meeting_id == meeting and w.state in ("booked", "no_show")
    ]
    if not found:
        return Clicked(200, {"ok": True, "open": False}, "meeting_gone", {"meeting": meeting})
    partition, raw, watch = found[0]
    if user not in _allowed(directory, watch.rep_id):
        error = f"{user} may not change {watch.rep_id}'s meetings"
        return Clicked(403, {"error": error}, "action_refused", {}, watch.rep_id)
    if kind == "rescheduled":
        new = watch._replace(state="closed", closed_by="rescheduled in Slack", at=now, due=None)
        label, values = "confirm_rescheduled", {"meeting": meeting}
    else:
        later = max(watch.due or now, now) + SNOOZE_FOR
        new = watch._replace(due=later)
        label, values = "confirm_snoozed_no_show", {"meeting": meeting, "until": later.isoformat()}
    if not await store.advance_watches([(partition, raw, new)]):
        # The counters agent changed the watch meanwhile (a CRM update came in): say so.
        return Clicked(409, {"error": "the meeting changed; try again"}, "meeting_gone", values)
    status = "rescheduled" if kind == "rescheduled" else "snoozed"
    await state.audit.record(
        now,
        status,
        watch.rep_id,
        (),
        reason=f"meeting {meeting}: {status} in Slack by {user}",
    )
    return Clicked(200, {"ok": True, status: meeting}, label, values, watch.rep_id)
