"""The no-show watch of seed 001: every rule of it, as pure functions over one meeting.

The rules:

1. **Open.** A ``meeting.no_show`` opens a watch; so does a ``meeting.booked`` whose
   time plus ``grace`` passes without a later report (inference, ``infer``).
   ``transition``.
2. **Close.** ``meeting.held``, ``meeting.canceled`` and ``meeting.rescheduled`` close
   it. ``transition``.
3. **Last writer wins.** A report replaces the stored watch only if it is not older
   (event time, in ms), so a late ``meeting.booked`` cannot reopen a meeting already
   held; a later report keeps what it does not say itself (lead, lead name, CRM,
   scheduled time: a no-show names no lead). ``write``.
4. **A rebooking closes the earlier no-show.** A report about another meeting of the
   same lead closes the earlier meeting's open no-show (``closed_by: rebooked``), unless
   that no-show is newer. ``rebooked``.
5. **Escalate on working time.** An open no-show raises a DM to the rep after
   ``rep_after``, an alert to the manager ``manager_after`` later, and is dropped
   ``expire_after`` after it opened. ``advance``.

Rules 1, 2 and 5 run in Python (the counters agent's ingest, the rules timer).
Rules 3 and 4 run inside the store's atomic batch apply (``store/apply_batch.lua``,
``put_watch``), so the write is exactly once with the counters; ``fold`` is their
statement here, and ``tests/integration/test_store.py`` checks the Lua against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

import orjson

from spm_stream.contract.events import (
    Event,
    EventType,
    MeetingBookedData,
    MeetingData,
    MeetingRescheduledData,
)
from spm_stream.rules.alerts import Alert, Recipient
from spm_stream.rules.config import NoShowRule
from spm_stream.time.worktime import WorkCalendar, add_working_time

__all__ = [
    "CARRIED",
    "MEETING_TYPES",
    "Watch",
    "WatchState",
    "advance",
    "fold",
    "rebooked",
    "transition",
    "write",
]

WatchState = Literal["booked", "no_show", "closed"]

_MEETING_DATA = (MeetingData, MeetingBookedData, MeetingRescheduledData)

#: The types whose payload names a meeting: ``transition`` is None for every other type,
#: so the ingest loop asks it about these alone.
MEETING_TYPES: Final = frozenset(
    {
        EventType.MEETING_BOOKED,
        EventType.MEETING_HELD,
        EventType.MEETING_NO_SHOW,
        EventType.MEETING_RESCHEDULED,
        EventType.MEETING_CANCELED,
    }
)


class Watch(NamedTuple):
    """What is known about one meeting, and when it next needs a look."""

    # A NamedTuple, not a frozen dataclass: one is built per meeting event on the hot path
    # (0.4 µs against 1.7).
    meeting_id: str
    rep_id: str
    state: WatchState
    at: datetime  # event time of the transition that set this state
    lead_id: str | None = None
    scheduled_for: datetime | None = None
    opened_at: datetime | None = None  # when the no-show became known
    inferred: bool = False
    stage: int = 0  # 0: nobody told yet, 1: rep DM raised, 2: manager alert raised
    due: datetime | None = None  # next look, or when a finished watch is dropped
    closed_by: str | None = None
    lead_name: str | None = None  # the lead or company, for people to recognise it
    source: str | None = None  # the CRM the meeting came from (its link in alerts)

    @property
    def at_ms(self) -> int:
        """Event time in epoch milliseconds: the last-writer-wins clock of the store."""
        return int(self.at.timestamp() * 1000)

    def dumps(self) -> str:
        """JSON for Redis (``at`` as epoch ms so the Lua script can compare it)."""
        return orjson.dumps(
            {
                "meeting_id": self.meeting_id,
                "rep_id": self.rep_id,
                "state": self.state,
                "at": self.at_ms,
                "lead_id": self.lead_id,
                "scheduled_for": _iso(self.scheduled_for),
                "opened_at": _iso(self.opened_at),
                "inferred": self.inferred,
                "stage": self.stage,
                "due": _iso(self.due),
                "closed_by": self.closed_by,
                "lead_name": self.lead_name,
                "source": self.source,
            }
        ).decode()

    @classmethod
    def loads(cls, raw: str | bytes) -> Watch:
        """Parse what ``dumps`` (or the store's Lua script) wrote."""
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            meeting_id=data["meeting_id"],
            rep_id=data["rep_id"],
            state=data["state"],
            at=datetime.fromtimestamp(int(data["at"]) / 1000, UTC),
            lead_id=data.get("lead_id") or None,
            scheduled_for=_dt(data.get("scheduled_for")),
            opened_at=_dt(data.get("opened_at")),
            inferred=bool(data.get("inferred")),
            stage=int(data.get("stage") or 0),
            due=_dt(data.get("due")),
            closed_by=data.get("closed_by") or None,
            lead_name=_text(data.get("lead_name")),
            source=_text(data.get("source")),
        )


#: What a later report of a meeting keeps from the earlier ones when it does not say it.
CARRIED: Final = ("lead_id", "lead_name", "source", "scheduled_for")


def write(before: Watch | None, report: Watch) -> Watch | None:
    """Rule 3: the meeting's watch after ``report``, or None when ``before`` is newer and
    stays as it is."""
    if before is None:
        return report
    if before.at_ms > report.at_ms:
        return None
    carried = {
        name: getattr(before, name)
        for name in CARRIED
        if getattr(report, name) is None and getattr(before, name) is not None
    }
    return report._replace(**carried) if carried else report


def rebooked(earlier: Watch, report: Watch) -> Watch | None:
    """Rule 4: ``earlier`` (another meeting of ``report``'s lead) closed by the report, or
    None when it is not an open no-show or is newer than the report."""
    if earlier.state != "no_show" or earlier.at_ms > report.at_ms:
        return None
    return earlier._replace(state="closed", closed_by="rebooked", at=report.at, due=None)


def fold(reports: Iterable[Watch], last_of_lead: dict[str, str] | None = None) -> dict[str, Watch]:
    """Rules 3 and 4 over reports in log order: the watches the store holds afterwards,
    by meeting id (what ``apply_batch.lua`` must leave in Redis). ``last_of_lead``, when
    given, is filled with the lead index the store keeps beside them: each lead's last
    reported meeting."""
    kept: dict[str, Watch] = {}
    if last_of_lead is None:
        last_of_lead = {}
    for report in reports:
        stored = write(kept.get(report.meeting_id), report)
        if stored is None:
            continue
        kept[report.meeting_id] = stored
        if report.lead_id is None:
            continue
        previous = last_of_lead.get(report.lead_id)
        if previous is not None and previous != report.meeting_id and previous in kept:
            closed = rebooked(kept[previous], report)
            if closed is not None:
                kept[previous] = closed
        last_of_lead[report.lead_id] = report.meeting_id
    return kept


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _text(value: Any) -> str | None:
    # cjson's null sentinel, and a missing field of a watch written before it existed.
    return value if isinstance(value, str) and value else None


def _dt(value: Any) -> datetime | None:
    # cjson in the store's script turns JSON null into a sentinel that encodes as null again.
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def transition(
    event: Event, rule: NoShowRule, calendar_of: Callable[[str], WorkCalendar]
) -> Watch | None:
    """The meeting's watch state after ``event``, or None for events that are not about one.

    ``calendar_of`` gives a rep's working calendar (asked only for a no-show).
    """
    data = event.data
    if not rule.enabled or not isinstance(data, _MEETING_DATA):
        return None
    kind = event.type
    # Built once, not as a base and a ``_replace``: a rebuild runs this per meeting event.
    lead_id, lead_name = _said(data, "lead_id"), _said(data, "lead_name")
    if isinstance(data, MeetingBookedData | MeetingRescheduledData):
        scheduled = data.scheduled_for
        return Watch(
            data.meeting_id,
            event.rep_id,
            "booked" if rule.infer else "closed",
            event.occurred_at,
            lead_id,
            scheduled_for=scheduled,
            due=scheduled + rule.grace if rule.infer else None,
            closed_by="rescheduled" if kind == EventType.MEETING_RESCHEDULED else None,
            lead_name=lead_name,
            source=event.source,
        )
    if kind == EventType.MEETING_NO_SHOW:
        reported = Watch(
            data.meeting_id,
            event.rep_id,
            "closed",
            event.occurred_at,
            lead_id,
            lead_name=lead_name,
            source=event.source,
        )
        calendar = calendar_of(event.rep_id)
        return _opened(reported, event.occurred_at, inferred=False, rule=rule, calendar=calendar)
    return Watch(
        data.meeting_id,
        event.rep_id,
        "closed",
        event.occurred_at,
        lead_id,
        closed_by="held" if kind == EventType.MEETING_HELD else "canceled",
        lead_name=lead_name,
        source=event.source,
    )


def _said(data: Any, name: str) -> str | None:
    """A text field of a meeting payload, declared or sent as an extra (the payloads keep
    unknown fields), or None. Read from the model's dicts: ``getattr`` with a default
    goes through pydantic's ``__getattr__`` and an AttributeError for every absent field."""
    value = data.__dict__.get(name)
    if value is None and data.__pydantic_extra__:
        value = data.__pydantic_extra__.get(name)
    return value if isinstance(value, str) else None


def _opened(
    watch: Watch, opened_at: datetime, *, inferred: bool, rule: NoShowRule, calendar: WorkCalendar
) -> Watch:
    return watch._replace(
        state="no_show",
        opened_at=opened_at,
        inferred=inferred,
        stage=0,
        due=add_working_time(calendar, opened_at, rule.rep_after.total_seconds()),
        closed_by=None,
    )


def advance(
    watch: Watch,
    now: datetime,
    rule: NoShowRule,
    calendar: WorkCalendar,
    manager_of: Callable[[str], str | None],
) -> tuple[Watch | None, list[Alert]]:
    """Move a watch through every step due by ``now``; None means drop it from the store."""
    alerts: list[Alert] = []
    while (due := watch.due) is not None and due <= now:
        if watch.state == "booked":
            # booked + grace passed without held/canceled/rescheduled: an inferred no-show.
            watch = _opened(watch, due, inferred=True, rule=rule, calendar=calendar)
        elif watch.state == "no_show" and watch.stage == 0:
            alerts.append(_alert("no_show.rep", watch, Recipient("person", watch.rep_id)))
            later = add_working_time(calendar, due, rule.manager_after.total_seconds())
            watch = watch._replace(stage=1, due=later)
        elif watch.state == "no_show" and watch.stage == 1:
            manager = manager_of(watch.rep_id)
            if manager is not None:
                alerts.append(_alert("no_show.manager", watch, Recipient("person", manager)))
            assert watch.opened_at is not None  # set by _opened
            watch = watch._replace(stage=2, due=watch.opened_at + rule.expire_after)
        else:
            return None, alerts  # closed, or escalated and expired: nothing left to watch
    return watch, alerts


def _alert(rule: str, watch: Watch, recipient: Recipient) -> Alert:
    assert watch.opened_at is not None
    return Alert(
        rule=rule,
        subject=watch.rep_id,
        key=watch.meeting_id,
        recipient=recipient,
        raised_at=watch.due or watch.opened_at,
        data={
            "meeting_id": watch.meeting_id,
            "lead_id": watch.lead_id,
            "lead_name": watch.lead_name,
            "source": watch.source,
            "rep_id": watch.rep_id,
            "scheduled_for": _iso(watch.scheduled_for),
            "opened_at": _iso(watch.opened_at),
            "inferred": watch.inferred,
        },
    )
