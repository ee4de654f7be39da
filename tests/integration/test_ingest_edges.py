"""The whole ingest path (contract -> plan -> Lua apply) against a real Redis, at its edges:
every record of any batch is either applied or dead-lettered with a reason, never lost,
and a counter that would overflow refuses its batch whole before anything is written."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agents.ingester import BatchIngest, RawRecord
from spm_stream.config.directory import load_directory
from spm_stream.config.settings import Settings
from spm_stream.contract.events import EventType
from spm_stream.store.redis_store import Store
from tests.events import event
from tests.fixtures import fresh_store
from tests.integration.test_fuzz_ingest import _mutations

pytestmark = pytest.mark.integration

DAY = "day:2026-11-02"


def _fresh(store: Store) -> Store:
    """The same Redis under a key prefix of its own (one per example or test)."""
    return fresh_store(store)


def _deal(event_id: str, amount: Any, currency: str = "EUR", **data: Any) -> bytes:
    return event(
        event_id,
        "deal.won",
        deal_id=event_id,
        amount=amount,
        currency=currency,
        product="p",
        **data,
    )


def _records(values: list[bytes], partition: int = 0) -> list[RawRecord]:
    return [(partition, offset, b"k", value) for offset, value in enumerate(values)]


async def test_poison_records_go_to_the_dlq_and_their_batch_is_applied(
    settings: Settings, store: Store
) -> None:
    """The records of the report: each passed validation, then raised in the ingest and
    lost its whole batch. Now the contract names the bound, and the rest is counted."""
    store = _fresh(store)
    ingest = BatchIngest(settings, load_directory(settings.config), store)
    poison = {
        1: _deal("big", 1.85e15),
        2: _deal("usd", 1e15, "USD"),
        3: _deal("tiny-list", 500.0, list_price=1e-300),
        4: event("year-1", at="0001-01-01T00:00:00+01:00"),
        5: event("year-9999", at="9999-12-31T23:59:59Z"),
        6: _deal("closedate", 10.0, created_at="9999-12-31T23:59:59Z"),
        7: _deal("gbp-1", 6e14, "GBP"),
    }
    values = [event("ok-0"), *poison.values(), _deal("ok-8", 250.0), event("ok-9")]
    outcome = await ingest(_records(values))
    assert (outcome.applied.counted, outcome.applied.rejected) == (3, 7)
    reasons = {r.record.offset: r.reason for r in outcome.rejects}
    assert sorted(reasons) == sorted(poison)
    assert "100000000000" in reasons[1]
    assert "100000000000" in reasons[2]
    assert "between 1900-01-01 and 2100-01-01" in reasons[4]
    assert await store.watermark(0) == len(values) - 1
    org = await store.counts("org", "all", DAY)
    assert org["activity.call"] == 2
    assert org["rev|EUR"] == 250 * 10_000
    again = await ingest(_records(values))
    assert again.applied.skipped == len(values)  # a redelivery changes nothing


async def test_a_counter_at_its_limit_refuses_the_batch_whole(
    settings: Settings, store: Store
) -> None:
    """Nothing of a batch is written when one counter would pass 2**62; the deals feeding
    it are dead-lettered with the cause, and the rest of the batch is applied once."""
    store = _fresh(store)
    ingest = BatchIngest(settings, load_directory(settings.config), store)
    counter = store.keys.counts(0, "org", "all", DAY)
    near = 2**62 - 5
    await store.redis.hset(counter, "rev|EUR", near)
    values = [event("c1"), _deal("eur", 1e11), _deal("usd", 1e11, "USD"), event("c2")]
    outcome = await ingest(_records(values))
    (reject,) = outcome.rejects
    assert reject.record.offset == 1
    assert "would take counter 'rev|EUR'" in reject.reason
    assert "2**62" in reject.reason
    assert (outcome.applied.counted, outcome.applied.rejected) == (3, 1)
    org = await store.counts("org", "all", DAY)
    assert org["rev|EUR"] == near  # untouched: not half applied
    assert org["rev|USD"] == 10**15
    assert org["activity.call"] == 2
    assert org["deal.won"] == 1
    stats = await store.stats()
    assert (stats.counted, stats.duplicates, stats.rejected) == (3, 0, 1)
    assert await store.watermark(0) == 3


async def test_seeded_mutations_never_stop_the_ingest(settings: Settings, store: Store) -> None:
    """The fuzzer of test_fuzz_ingest over seeds 1-200 (its worker test runs one seed)."""
    ingest = BatchIngest(settings, load_directory(settings.config), _fresh(store))
    for seed in range(1, 201):
        values = _mutations(random.Random(seed), 60)
        outcome = await ingest(_records(values, partition=seed % 4))
        done = outcome.applied
        assert done.counted + done.duplicates + done.rejected + done.skipped == len(values)


# Values over the full ranges JSON can carry, not only plausible ones.
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([0, 1e-300, 1e11, 1e11 + 1, 2**53, 2**63, 2**64, 1.85e15, 6e14]),
)
_timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(
        ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-11-02T10:00:00Z"]
    ),
    st.text(max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30),
)
_ids = st.one_of(st.text(max_size=300), st.integers(), st.none())
_values = st.one_of(_numbers, _timestamps, _ids, st.booleans())
_data = st.fixed_dictionaries(
    {},
    optional={
        "deal_id": _ids,
        "lead_id": _ids,
        "meeting_id": st.sampled_from(["m1", "m2"]) | _ids,
        "quote_id": _ids,
        "amount": _numbers,
        "list_price": _numbers,
        "currency": st.sampled_from(["EUR", "USD", "JPY", "XXX", "eur", ""]),
        "product": _ids,
        "created_at": _timestamps,
        "scheduled_for": _timestamps,
        "initiated_by": st.sampled_from(["rep", "prospect", "bot"]),
        "score": _numbers | st.integers(0, 10),
        "hired_at": _timestamps | st.dates().map(str),
        "extra": _values,
    },
)
_events = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=8) | _ids,
        "type": st.sampled_from([t.value for t in EventType]) | st.text(max_size=20),
        "occurred_at": st.sampled_from(["2026-11-02T10:00:00Z"]) | _timestamps,
        "rep_id": st.sampled_from(["rep-1", "rep-2", "rep-3", "nobody"]) | _ids,
    },
    optional={"team_id": st.sampled_from(["t1", "t2"]) | _ids, "data": _data | _values},
)


def _encode(body: dict[str, Any]) -> bytes:
    # json, not orjson: it writes NaN, Infinity and 400-digit integers as they came.
    return json.dumps(body).encode()


@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(_events.map(_encode), min_size=1, max_size=30))
async def test_every_record_of_any_batch_is_applied_or_dead_lettered(
    settings: Settings, store: Store, batch: list[bytes]
) -> None:
    store = _fresh(store)
    ingest = BatchIngest(settings, load_directory(settings.config), store)
    outcome = await ingest(_records(batch))
    done = outcome.applied
    assert done.counted + done.duplicates + done.rejected == len(batch)
    assert len(outcome.rejects) == done.rejected
    assert all(r.reason for r in outcome.rejects)
    assert await store.watermark(0) == len(batch) - 1
    stats = await store.stats()
    assert (stats.counted, stats.duplicates, stats.rejected) == (
        done.counted,
        done.duplicates,
        done.rejected,
    )
    replay = await ingest(_records(batch))
    assert replay.applied.skipped == len(batch)
    assert await store.stats() == stats
