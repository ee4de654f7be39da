"""The ingest stage: raw Kafka records → validated plans per partition, and rejects.

Pure: the counters agent feeds it what it consumed and gets back what to write
to Redis and what to send to the dead-letter topic, with the reason.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from spm_stream.config.scopes import Routing
from spm_stream.contract.compiled import DATA_BOUNDED_TYPES, decode_struct, to_event
from spm_stream.contract.events import Event, InvalidEvent, parse_event
from spm_stream.counting.outcomes import RANKS, outcome_of
from spm_stream.counting.planning import (
    MEMOISED_TYPES,
    PLAN_MEMO_LIMIT,
    PlanMemo,
    Planned,
    plan_event,
    plan_memoised,
    plan_reject,
)
from spm_stream.rules.alerts import Alert
from spm_stream.rules.evaluate import ALERTING_TYPES
from spm_stream.rules.noshow import MEETING_TYPES, Watch
from spm_stream.store.keys import Keys

__all__ = ["QUICK_TYPES", "IngestResult", "Record", "Reject", "ingest", "new_record"]

#: Types planned from the memo straight from the compiled decoder's Struct, without a
#: pydantic ``Event``: their plan does not depend on ``data``, no meeting or alert rule
#: reads them, and their payload has no date-time to bound (a memo hit bounds
#: ``occurred_at``: see ``plan_memoised``). Most of a team's events: calls, e-mails,
#: conversations, leads.
QUICK_TYPES: Final = (
    MEMOISED_TYPES - MEETING_TYPES - RANKS.keys() - ALERTING_TYPES - DATA_BOUNDED_TYPES
)


class Record(NamedTuple):
    """One consumed Kafka record, as the agent saw it."""

    # A NamedTuple, not a dataclass: one is built per event on the hot path.
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


#: A ``Record`` from a tuple of all its fields, without the Python frame of a NamedTuple's
#: ``__new__``: half the cost, and a rebuild builds millions.
new_record: Final = functools.partial(tuple.__new__, Record)


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that broke the contract, bound for the dead-letter topic."""

    record: Record
    field: str
    reason: str

    @property
    def source(self) -> str:
        """Where the record came from: "topic:partition:offset"."""
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers saying why and where from, so the DLQ can be inspected and replayed."""
        return [
            ("spm-reason", self.reason.encode()),
            ("spm-field", self.field.encode()),
            ("spm-source", self.source.encode()),
        ]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Plans grouped by partition, and the rejects among them."""

    batches: Mapping[int, Sequence[Planned]]
    rejects: Sequence[Reject]
    alerts: Sequence[Alert] = ()

    @classmethod
    def joined(cls, parts: Sequence[IngestResult]) -> IngestResult:
        """The results of consecutive slices of a batch as one, as ``ingest`` of the whole
        batch returns it: each partition's plans, the rejects and the alerts in order."""
        batches: dict[int, list[Planned]] = defaultdict(list)
        rejects: list[Reject] = []
        alerts: list[Alert] = []
        for part in parts:
            for partition, planned in part.batches.items():
                batches[partition] += planned
            rejects += part.rejects
            alerts += part.alerts
        return cls(dict(batches), rejects, alerts)


def ingest(
    records: Sequence[Record],
    *,
    keys: Keys,
    routing: Routing,
    watch: Callable[[Event], Watch | None] | None = None,
    alerts: Callable[[Event], list[Alert]] | None = None,
    memo: PlanMemo | None = None,
) -> IngestResult:
    """Validate and plan a consumed batch; a bad record becomes a reject, never an exception.

    ``watch`` plans a meeting event's no-show watch state (``spm_stream.rules.noshow``);
    ``alerts`` lists the alerts an event raises by itself (``spm_stream.rules.evaluate``).
    ``memo`` keeps plans from one call to the next (a worker passes the same one to
    every batch: a rep's calls of a day share a plan, whichever batch they arrive in);
    it is emptied when it holds more than ``PLAN_MEMO_LIMIT`` plans, since plans are
    per day and yesterday's are not needed again.
    """
    raised: list[Alert] = []
    if memo is None:
        memo = {}
    elif len(memo) > PLAN_MEMO_LIMIT:
        memo.clear()
    batches: dict[int, list[Planned]] = defaultdict(list)
    rejects: list[Reject] = []
    for record in records:
        # Unpacked once: a NamedTuple's attribute is a descriptor call per read.
        _, partition, offset, _, value = record
        struct = decode_struct(value)
        event: Event | None = None
        if struct is not None:
            kind = struct.event_type
            if kind in QUICK_TYPES:
                quick = plan_memoised(
                    memo,
                    offset,
                    partition,
                    struct.rep_id,
                    struct.team_id,
                    kind,
                    struct.event_id,
                    struct.occurred_at,
                )
                if quick is not None:
                    batches[partition].append(quick)
                    continue
            event = to_event(struct)
        if event is None:
            try:
                # What the compiled decoder could not judge, pydantic does, and words the error.
                event = parse_event(value)
            except InvalidEvent as exc:
                rejects.append(Reject(record, exc.field, str(exc)))
                batches[partition].append(plan_reject(offset))
                continue
        kind = event.type
        try:
            planned = plan_event(
                event, offset=offset, partition=partition, keys=keys, routing=routing, memo=memo
            )
            # Most events are calls and e-mails: the meeting and alert rules are asked
            # only about the types they answer for (each says which).
            state = watch(event) if kind in MEETING_TYPES and watch is not None else None
            outcome = outcome_of(event) if kind in RANKS else None
            if state is not None or outcome is not None:
                planned = planned._replace(watch=state, outcome=outcome)
            if kind in ALERTING_TYPES and alerts is not None:
                raised += alerts(event)
        except Exception as exc:
            # A valid event that breaks a planner must not take its batch down with it
            # (the batch would be neither applied nor dead-lettered): that event alone
            # goes to the dead-letter topic, with what went wrong.
            rejects.append(Reject(record, "", f"could not be planned: {type(exc).__name__}: {exc}"))
            batches[partition].append(plan_reject(offset))
            continue
        batches[partition].append(planned)
    return IngestResult(dict(batches), rejects, raised)
