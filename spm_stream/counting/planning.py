"""What an event changes: the pure plan of counter and leaderboard increments.

The counters agent turns each consumed record into a ``Planned`` entry: its
offset, its dedupe identity and the increments it causes. ``store.apply_batch``
then applies a partition's plans atomically in Redis, skipping offsets at or
below the partition's watermark and event_ids already seen. No I/O here.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo

from spm_stream.config.scopes import ORG, Routing
from spm_stream.contract.events import EARLIEST, LATEST, Event, EventType
from spm_stream.counting.facts import contributions, ramp_fact
from spm_stream.counting.outcomes import Outcome
from spm_stream.rules.noshow import Watch
from spm_stream.store.keys import Keys
from spm_stream.time.windows import day_bucket, day_span, utc_day

__all__ = [
    "MAX_INCREMENT",
    "MEMOISED_TYPES",
    "ORG",
    "PLAN_MEMO_LIMIT",
    "Memoised",
    "Op",
    "PlanMemo",
    "Planned",
    "plan_event",
    "plan_memoised",
    "plan_reject",
]


#: Types whose increments depend only on who, when and the type (not on ``data``): their
#: plans repeat within a batch and are memoised (``plan_event``'s ``memo``).
MEMOISED_TYPES: Final = frozenset(EventType) - {
    EventType.DEAL_WON,
    EventType.NPS_RESPONSE,
    EventType.REP_HIRED,
}


class Memoised(NamedTuple):
    """A data-free plan and the UTC span [start, end) of ``occurred_at`` it holds for:
    the instants on which the rep's, the org's and UTC's calendar days are all the same.

    Under the type None, the memo keeps where any event of the rep counts in that span
    instead: ``counts`` (each scope's day accumulator) and, as ``ops``, the membership
    ops; a plan that depends on ``data`` (a won deal's amount) then only adds its facts.
    """

    start: datetime  # UTC
    end: datetime
    ops: tuple[tuple[Op, int], ...]
    seen_key: str
    counts: tuple[str, ...] = ()


#: Memo of plans: (partition, rep, team, type) -> the last plan and its span; who,
#: the type and those days are all a data-free plan depends on. (partition, rep, team,
#: None) -> where the rep's events count in the last span (see ``Memoised``).
PlanMemo = dict[tuple[int, str, str | None, EventType | None], Memoised]

#: Plans a long-lived memo holds before it is emptied: one per partition, rep, team and
#: type (1,000 reps x 8 types), ~1 kB each.
PLAN_MEMO_LIMIT: Final = 8192

#: The largest increment one event may make: the Lua apply's numbers are doubles, exact
#: for integers up to 2**53. The contract's bounds keep every valid event below it.
MAX_INCREMENT: Final = 2**53 - 1

#: hincr is summed per target; zmin keeps the smallest score; sadd adds a member.
OpKind = Literal["hincr", "zmin", "sadd"]


class Op(NamedTuple):
    """One write target: HINCRBY key field, ZINCRBY / ZADD LT key member, or SADD key member."""

    # A NamedTuple, not a dataclass: several are built per event on the hot path.
    kind: OpKind
    key: str
    field: str


class Planned(NamedTuple):
    """One consumed record and what it changes; a reject has no event_id and no ops."""

    # A NamedTuple, not a dataclass: one is built per event on the hot path.
    offset: int
    event_id: str | None = None
    seen_key: str | None = None
    ops: tuple[tuple[Op, int], ...] = ()
    watch: Watch | None = None  # a meeting's new no-show watch state, written in event order
    outcome: Outcome | None = None  # what a meeting counts as (spm_stream.counting.outcomes)

    @property
    def rejected(self) -> bool:
        """True for a record that failed validation (it still advances the watermark)."""
        return self.event_id is None


def plan_event(
    event: Event,
    *,
    offset: int,
    partition: int,
    keys: Keys,
    routing: Routing,
    memo: PlanMemo | None = None,
) -> Planned:
    """Plan a valid event: its day-accumulator increments per scope, boards and ramp facts.

    ``memo`` (a worker keeps one, ``ingest`` bounds it) reuses the plan of an earlier
    event of the same rep, team and type on the same days (the rep's, the org's,
    UTC's): most events are calls and e-mails, a rep makes dozens a day, and building
    their key strings again was most of the planning cost. A hit costs one comparison
    with the plan's span, not a local date per zone. A plan not in the memo still takes
    the memo's keys of where the rep counts on those days (``Memoised``, type None).
    """
    if memo is None:
        return _unmemoised(event, offset, partition, keys, routing)
    kind, at, rep, team = event.type, event.occurred_at, event.rep_id, event.team_id
    memoised = kind in MEMOISED_TYPES
    if memoised:
        hit = plan_memoised(memo, offset, partition, rep, team, kind, event.event_id, at)
        if hit is not None:
            return hit
    # Where the rep's events count on these days: asked of every plan not memoised (a
    # new type of the day, or one whose plan depends on data), and built once per span.
    where = memo.get((partition, rep, team, None))
    if where is None or not where.start <= at < where.end:
        span = _span(at.astimezone(UTC), (routing.zone_of("rep", rep), routing.zone, UTC))
        if span is None:
            return _unmemoised(event, offset, partition, keys, routing)
        # Within one UTC day of a valid event, and the contract's bounds are UTC midnights:
        # so the span lies within them, and a memo hit needs no range check of its own.
        assert span[0] >= EARLIEST, span
        assert span[1] <= LATEST, span
        counts, members, seen_key = _place(event, partition, keys, routing)
        where = memo[(partition, rep, team, None)] = Memoised(*span, members, seen_key, counts)
    ops = _plan(event, partition, keys, where.counts, where.ops)
    if memoised:
        memo[(partition, rep, team, kind)] = Memoised(where.start, where.end, ops, where.seen_key)
    return Planned(offset, event.event_id, where.seen_key, ops)


def plan_memoised(
    memo: PlanMemo,
    offset: int,
    partition: int,
    rep_id: str,
    team_id: str | None,
    kind: EventType,
    event_id: str,
    at: datetime,
) -> Planned | None:
    """The plan of an event of a ``MEMOISED_TYPES`` type from the memo, or None on a miss.

    Takes the fields a plan depends on, not an ``Event``: the ingest loop asks with what
    the compiled decoder read, and builds the full event only on a miss. ``at`` is any
    aware datetime, compared as an instant with the memo's UTC span; a span lies within
    the contract's range of ``occurred_at`` (asserted where it is stored), so a hit
    also means ``at`` is in range."""
    hit = memo.get((partition, rep_id, team_id, kind))
    if hit is not None and hit.start <= at < hit.end:
        return _new(Planned, (offset, event_id, hit.seen_key, hit.ops, None, None))
    return None


#: Builds a NamedTuple from all its fields without the Python frame of its ``__new__``:
#: half the cost. A memo hit builds a ``Planned`` per event, a miss an ``Op`` per fact.
_new: Final = tuple.__new__


def _span(at: datetime, zones: tuple[tzinfo, ...]) -> tuple[datetime, datetime] | None:
    """Where the local days of ``at`` in all ``zones`` overlap (None: see ``day_span``)."""
    start, end = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    for zone in zones:
        day = day_span(at, zone)
        if day is None:
            return None
        start, end = max(start, day[0]), min(end, day[1])
    return start, end


def _unmemoised(event: Event, offset: int, partition: int, keys: Keys, routing: Routing) -> Planned:
    counts, members, seen_key = _place(event, partition, keys, routing)
    return Planned(offset, event.event_id, seen_key, _plan(event, partition, keys, counts, members))


def _place(
    event: Event, partition: int, keys: Keys, routing: Routing
) -> tuple[tuple[str, ...], tuple[tuple[Op, int], ...], str]:
    """Where the event counts, whatever its type: each scope's day accumulator, the
    team's and the partition's member sets, and the dedupe set its id goes in."""
    days: dict[ZoneInfo, str] = {}  # scopes mostly share a zone: convert once per zone
    counts: list[str] = []
    for scope in routing.scopes(event):
        day = days.get(scope.zone)
        if day is None:
            day = days[scope.zone] = day_bucket(event.occurred_at, scope.zone)
        counts.append(keys.counts(partition, scope.kind, scope.id, day))
    team = routing.team_for(event)
    members: list[tuple[Op, int]] = []
    if team is not None:
        members.append((Op("sadd", keys.members(partition, team), event.rep_id), 0))
    members.append((Op("sadd", keys.reps(partition), event.rep_id), 0))
    return tuple(counts), tuple(members), keys.seen(partition, utc_day(event.occurred_at))


def _plan(
    event: Event,
    partition: int,
    keys: Keys,
    counts: tuple[str, ...],
    members: tuple[tuple[Op, int], ...],
) -> tuple[tuple[Op, int], ...]:
    """The event's increments, counted in ``counts`` (``_place``)."""
    facts = contributions(event).items()
    ops = [(_new(Op, ("hincr", key, name)), amount) for key in counts for name, amount in facts]
    ramp = ramp_fact(event)
    if ramp is not None:
        ops.append((Op("zmin", keys.ramp(partition, ramp[0]), event.rep_id), ramp[1]))
    ops += members
    for op, amount in ops:
        if not -MAX_INCREMENT <= amount <= MAX_INCREMENT:
            raise ValueError(
                f"{op.field}: increment {amount} is outside the ±2**53 the store adds exactly"
            )
    return tuple(ops)


def plan_reject(offset: int) -> Planned:
    """Plan a record that went to the dead-letter topic: it only moves the watermark."""
    return Planned(offset=offset)
