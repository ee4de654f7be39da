"""The ingest loop's quick path plans exactly what planning each event on its own plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_stream.config.scopes import Routing
from spm_stream.contract.events import InvalidEvent, parse_event
from spm_stream.counting.ingest import QUICK_TYPES, IngestResult, Record, ingest
from spm_stream.counting.outcomes import outcome_of
from spm_stream.counting.planning import PlanMemo, Planned, plan_event, plan_reject
from spm_stream.devtools.generator import Generator
from spm_stream.rules.config import AlertRules, NoShowRule
from spm_stream.rules.evaluate import event_alerts
from spm_stream.rules.noshow import transition
from spm_stream.store.keys import Keys
from spm_stream.time.worktime import WorkCalendar
from tests.events import BAD_RECORDS, event

KEYS = Keys("spm", "crm-events", 4)
RULE = NoShowRule()


def _stream(n: int, seed: int) -> list[Record]:
    """The generator's event mix (every type) over two days, keyed by rep as Kafka does."""
    gen = Generator(teams=2, reps_per_team=3, seed=seed)
    start = datetime(2026, 11, 2, 20, tzinfo=UTC)  # late: the reps' local days change midway
    pairs = gen.hires(start)
    while len(pairs) < n:
        pairs.extend(gen.records(start + timedelta(days=2) * len(pairs) / n))
    partition_of: dict[bytes, int] = {}
    return [
        Record("crm-events", partition_of.setdefault(key, len(partition_of) % 4), i, key, value)
        for i, (key, value) in enumerate(pairs[:n])
    ]


def _calendar(rep: str) -> WorkCalendar:
    return WorkCalendar(ZoneInfo("Europe/Berlin"))


def _one_by_one(record: Record, routing: Routing) -> Planned:
    """The reference: pydantic validation and planning without a memo, per event."""
    try:
        event = parse_event(record.value)
    except InvalidEvent:
        return plan_reject(record.offset)
    planned = plan_event(
        event, offset=record.offset, partition=record.partition, keys=KEYS, routing=routing
    )
    return planned._replace(watch=transition(event, RULE, _calendar), outcome=outcome_of(event))


ROUTINGS = [
    Routing(ZoneInfo("UTC"), {}),
    Routing(
        ZoneInfo("America/Los_Angeles"),
        {"rep-101": "team-9"},  # the directory moves one rep to another team
        {"rep-101": ZoneInfo("Asia/Tokyo"), "rep-201": ZoneInfo("Europe/Berlin")},
    ),
]


@pytest.mark.parametrize("routing", ROUTINGS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), batch=st.integers(1, 700))
def test_the_quick_path_plans_what_one_by_one_planning_plans(
    routing: Routing, seed: int, batch: int
) -> None:
    records = _stream(1500, seed)
    bad = [
        Record("crm-events", 1, 10_000 + i, b"rep-x", raw) for i, (raw, _) in enumerate(BAD_RECORDS)
    ]
    records[700:700] = bad
    memo: dict = {}  # type: ignore[type-arg]  # one memo across batches, as a worker keeps
    got: dict[tuple[int, int], Planned] = {}
    for i in range(0, len(records), batch):
        result = ingest(
            records[i : i + batch],
            keys=KEYS,
            routing=routing,
            watch=lambda e: transition(e, RULE, _calendar),
            memo=memo,
        )
        for partition, plans in result.batches.items():
            got |= {(partition, p.offset): p for p in plans}
    expected = {(r.partition, r.offset): _one_by_one(r, routing) for r in records}
    assert got == expected
    types = {parse_event(r.value).type for r in records if r.key != b"rep-x"}
    assert types & QUICK_TYPES  # the stream does exercise the quick path
    assert types - QUICK_TYPES  # and the full one


def test_a_quick_type_out_of_range_is_rejected_even_after_a_memo_hit_the_day_before() -> None:
    """The memo's span never reaches outside the contract's range: a call one second before
    1900 is rejected, not planned from the plan of a call one second after."""
    routing = Routing(ZoneInfo("Europe/Berlin"), {})
    records = [
        Record("crm-events", 0, 1, b"r", event("in", at="1900-01-01T00:00:01Z")),
        Record("crm-events", 0, 2, b"r", event("out", at="1899-12-31T23:59:59Z")),
    ]
    result = ingest(records, keys=KEYS, routing=routing, memo={})
    assert [p.rejected for p in result.batches[0]] == [False, True]
    assert "occurred_at" in result.rejects[0].reason


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), cuts=st.lists(st.integers(0, 800), max_size=6))
def test_slices_of_a_batch_joined_are_the_batch_ingested_at_once(
    seed: int, cuts: list[int]
) -> None:
    """The bulk path plans a fetch in slices (yielding to Redis in between): joined, they
    are what one ``ingest`` of the fetch gives, plans, rejects and alerts in order."""
    records = _stream(800, seed)
    records[300:300] = [
        Record("crm-events", 2, 20_000 + i, b"rep-x", raw) for i, (raw, _) in enumerate(BAD_RECORDS)
    ]
    won = event("big-1", "deal.won", deal_id="D-1", amount=5000.0, currency="USD", product="p")
    records[500:500] = [Record("crm-events", 3, 30_000, b"rep-1", won)]
    rules = AlertRules(big_deal={"USD": 1000, "EUR": 1000})

    def run(batch: list[Record], memo: PlanMemo) -> IngestResult:
        return ingest(
            batch,
            keys=KEYS,
            routing=ROUTINGS[1],
            watch=lambda e: transition(e, RULE, _calendar),
            alerts=lambda e: event_alerts(e, rules, lambda rep: "mgr"),
            memo=memo,
        )

    whole = run(records, {})
    bounds = [0, *sorted(cuts), len(records)]
    memo: PlanMemo = {}
    joined = IngestResult.joined([run(records[a:b], memo) for a, b in pairwise(bounds)])
    assert joined.batches == whole.batches
    assert joined.rejects == whole.rejects
    assert joined.alerts == whole.alerts
    assert whole.rejects  # both lists are exercised
    assert whole.alerts
