"""One outcome per meeting: which of held, canceled and no-show a meeting counts as.

CRMs report a meeting's outcome more than once, and not always consistently:
Close marks every meeting ``completed`` when its time is over (mapped to held)
and the rep sets a no-show outcome later. Counting both would make the no-show
rate wrong. The rule, the same live (the store's Lua apply) and offline
(``spm_stream.reports.report``):

- a meeting counts as the **strongest** outcome reported for it: no-show over
  canceled over held. A no-show or a cancellation is something a person stated;
  held is often a CRM's automatic "time is over";
- between reports of equal strength, the earliest (by event time, then by
  event id) counts: a meeting is counted on the day its outcome first happened;
- a report that beats the counted one takes its count back (on the day it was
  counted) and counts itself; one that does not adds nothing;
- so the result does not depend on the order the reports arrive in, and a
  meeting rescheduled after a no-show stays a meeting that had a no-show.

Within one CRM payload the mappers apply the same precedence: an explicit
outcome wins over a status (``spm_stream.crm.close``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

from spm_stream.contract.events import Event, EventType, MeetingData

__all__ = ["RANKS", "Outcome", "beats", "outcome_of"]

#: Outcome types by strength: a higher rank replaces a lower one.
RANKS: Final = {
    EventType.MEETING_HELD: 1,
    EventType.MEETING_CANCELED: 2,
    EventType.MEETING_NO_SHOW: 3,
}


class Outcome(NamedTuple):
    """What an outcome event says about its meeting."""

    meeting_id: str
    rank: int
    type: str  # the accumulator field it counts in ("meeting.no_show")
    at_ms: int  # event time: the earliest of equal reports counts
    event_id: str  # the last tie-break


def outcome_of(event: Event) -> Outcome | None:
    """The outcome an event reports, or None for events that report none."""
    rank = RANKS.get(event.type)
    if rank is None or not isinstance(event.data, MeetingData):
        return None
    at_ms = int(event.occurred_at.timestamp() * 1000)
    return Outcome(event.data.meeting_id, rank, event.type.value, at_ms, event.event_id)


def beats(new: Outcome, counted: Outcome | None) -> bool:
    """True when ``new`` replaces what a meeting counts as (``counted``: nothing yet).
    The store's Lua apply compares the same way (``count_outcome``)."""
    if counted is None:
        return True
    if new.rank != counted.rank:
        return new.rank > counted.rank
    if new.at_ms != counted.at_ms:
        return new.at_ms < counted.at_ms
    return new.event_id < counted.event_id
