"""What an event changes: the pure plan of counter and leaderboard increments.

The counters agent turns each consumed record into a ``Planned`` entry: its
offset, its dedupe identity and the increments it causes. ``store.apply_batch``
then applies a partition's plans atomically in Redis, skipping offsets at or
below the partition's watermark and event_ids already seen. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from zoneinfo import ZoneInfo

from spm_stream.events import Event, EventType
from spm_stream.keys import Keys
from spm_stream.windows import day_bucket, utc_day

__all__ = ["BOARD_METRICS", "ORG", "Op", "Planned", "plan_event", "plan_reject", "team_for"]

#: Scope id of the whole organisation.
ORG: Final = "all"

#: Leaderboard metric -> the event type whose occurrences it counts.
BOARD_METRICS: Final[Mapping[str, EventType]] = {
    "calls": EventType.ACTIVITY_CALL,
    "emails": EventType.ACTIVITY_EMAIL,
    "meetings_booked": EventType.MEETING_BOOKED,
    "demos": EventType.ACTIVITY_DEMO,
    "deals_won": EventType.DEAL_WON,
}
_METRIC_OF_TYPE: Final = {etype: metric for metric, etype in BOARD_METRICS.items()}

OpKind = Literal["hincr", "zincr"]


@dataclass(frozen=True, slots=True)
class Op:
    """One increment target: HINCRBY key field, or ZINCRBY key member."""

    kind: OpKind
    key: str
    field: str


@dataclass(frozen=True, slots=True)
class Planned:
    """One consumed record and what it changes; a reject has no event_id and no ops."""

    offset: int
    event_id: str | None = None
    seen_key: str | None = None
    ops: tuple[tuple[Op, int], ...] = ()

    @property
    def rejected(self) -> bool:
        """True for a record that failed validation (it still advances the watermark)."""
        return self.event_id is None


def team_for(event: Event, team_of: Mapping[str, str | None]) -> str | None:
    """The team an event counts for: the CRM's own team_id, else the directory's."""
    return event.team_id if event.team_id is not None else team_of.get(event.rep_id)


def plan_event(
    event: Event,
    *,
    offset: int,
    partition: int,
    keys: Keys,
    zone: ZoneInfo,
    team_of: Mapping[str, str | None],
) -> Planned:
    """Plan a valid event: daily counts per rep, team and org, and the daily boards."""
    day = day_bucket(event.occurred_at, zone)
    etype = event.type.value
    team = team_for(event, team_of)
    ops: list[tuple[Op, int]] = [
        (Op("hincr", keys.counts(partition, "rep", event.rep_id, day), etype), 1),
        (Op("hincr", keys.counts(partition, "org", ORG, day), etype), 1),
    ]
    if team is not None:
        ops.append((Op("hincr", keys.counts(partition, "team", team, day), etype), 1))
    metric = _METRIC_OF_TYPE.get(event.type)
    if metric is not None:
        ops.append((Op("zincr", keys.board(partition, metric, "org", ORG, day), event.rep_id), 1))
        if team is not None:
            board = keys.board(partition, metric, "team", team, day)
            ops.append((Op("zincr", board, event.rep_id), 1))
    return Planned(
        offset=offset,
        event_id=event.event_id,
        seen_key=keys.seen(partition, utc_day(event.occurred_at)),
        ops=tuple(ops),
    )


def plan_reject(offset: int) -> Planned:
    """Plan a record that went to the dead-letter topic: it only moves the watermark."""
    return Planned(offset=offset)
