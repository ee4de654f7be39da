"""The Lua apply against a real Redis: replays and duplicates never change a counter."""

from __future__ import annotations

import random
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from spm_stream.config.scopes import Routing
from spm_stream.contract.events import Event, parse_event
from spm_stream.counting.ingest import Record, ingest
from spm_stream.counting.planning import PlanMemo, Planned, plan_event, plan_reject
from spm_stream.reports.report import fold
from spm_stream.rules.config import NoShowRule
from spm_stream.rules.noshow import Watch, transition
from spm_stream.rules.noshow import fold as fold_watches
from spm_stream.store.redis_store import Store
from spm_stream.time.worktime import WorkCalendar
from tests.events import event
from tests.fixtures import fresh_store

pytestmark = pytest.mark.integration

UTC = ZoneInfo("UTC")
DAY = "day:2026-11-02"


def _plans(
    store: Store,
    partition: int,
    ids: list[int],
    first_offset: int = 0,
    memo: PlanMemo | None = None,
) -> list[Planned]:
    """Calls of rep-0..2 with these event ids; with ``memo`` a rep's events share a plan."""
    plans = []
    for offset, i in enumerate(ids, start=first_offset):
        raw = event(f"p{partition}-e{i}", rep=f"rep-{i % 3}")
        plans.append(
            plan_event(
                parse_event(raw),
                offset=offset,
                partition=partition,
                keys=store.keys,
                routing=Routing(UTC, {}),
                memo=memo,
            )
        )
    return plans


async def test_replayed_batch_is_skipped_and_duplicate_ids_count_once(store: Store) -> None:
    batch = [*_plans(store, 0, list(range(10))), plan_reject(10)]
    first = await store.apply({0: batch})
    assert (first.counted, first.duplicates, first.rejected, first.skipped) == (10, 0, 1, 0)
    again = await store.apply({0: batch})
    assert (again.counted, again.skipped) == (0, 11)
    # The CRM sends event e3 again: a new offset, the same event_id.
    resend = _plans(store, 0, [3], first_offset=11)
    dup = await store.apply({0: resend})
    assert (dup.counted, dup.duplicates) == (0, 1)
    assert await store.watermark(0) == 11
    counts = await store.counts("org", "all", DAY)
    assert counts == {"activity.call": 10}


async def test_one_round_trip_applies_several_partitions(store: Store) -> None:
    result = await store.apply({0: _plans(store, 0, [1, 2]), 3: _plans(store, 3, [1, 2, 3])})
    assert result.counted == 5
    assert await store.watermark(3) == 2
    assert (await store.stats()).counted == 5


async def test_a_redis_that_forgot_the_script_gets_it_again(store: Store) -> None:
    """A restarted Redis has no scripts: the apply loads its own and runs the batch once."""
    await store.apply({0: _plans(store, 0, [1])})
    await store.redis.script_flush()
    result = await store.apply({0: _plans(store, 0, [2, 3], 1), 2: _plans(store, 2, [1])})
    assert (result.counted, result.duplicates, result.skipped) == (3, 0, 0)
    assert (await store.stats()).counted == 4
    assert await store.redis.script_exists(store._apply.sha) == [True]


async def test_a_batch_larger_than_a_command_chunk_dedupes_within_and_across(
    store: Store,
) -> None:
    """2,500 events of three shared plans in one batch, 500 of them CRM retries of ids
    earlier in the batch, then the whole range again under new offsets."""
    ids = [*range(2000), *range(0, 2000, 4)]
    result = await store.apply({1: _plans(store, 1, ids, memo={})})
    assert (result.counted, result.duplicates) == (2000, 500)
    again = await store.apply({1: _plans(store, 1, list(range(2000)), 2500, memo={})})
    assert (again.counted, again.duplicates) == (0, 2000)
    for rep in ("rep-0", "rep-1", "rep-2"):
        expected = sum(1 for i in range(2000) if f"rep-{i % 3}" == rep)
        assert (await store.counts("rep", rep, DAY))["activity.call"] == expected


async def test_keys_expire_by_class(store: Store) -> None:
    await store.apply({1: _plans(store, 1, [1])})
    counters = await store.redis.ttl(store.keys.counts(1, "org", "all", DAY))
    assert store.ttls.counters_s - 60 < counters <= store.ttls.counters_s
    seen = await store.redis.ttl(store.keys.seen(1, "2026-11-02"))
    assert store.ttls.dedupe_s - 60 < seen <= store.ttls.dedupe_s
    # The watermark must outlive every counter: it never expires.
    assert await store.redis.ttl(store.keys.watermark(1)) == -1


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.integers(0, 40), min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=4),
    seed=st.integers(0, 2**16),
)
async def test_any_redelivery_pattern_counts_each_event_once(
    store: Store, ids: list[int], cuts: list[int], seed: int
) -> None:
    """Deliver a partition's log in batches, re-delivering from arbitrary earlier offsets
    (as after crashes and rebalances) and with repeated event_ids (CRM retries)."""
    # A key prefix per example: cheaper than scanning a shared Redis for the last one's keys.
    store = fresh_store(store)
    log = _plans(store, 2, ids, memo={})  # shared plans, as the worker's ingest makes them
    rng = random.Random(seed)
    position = 0
    for cut in [*sorted(cuts), len(log)]:
        end = max(position, min(cut, len(log)))
        restart = rng.randint(0, position)  # redeliver from an earlier committed offset
        await store.apply({2: log[restart:end]})
        position = end
    expected = Counter(f"rep-{i % 3}" for i in set(ids))
    for rep in ("rep-0", "rep-1", "rep-2"):
        got = (await store.counts("rep", rep, DAY)).get("activity.call", 0)
        assert got == expected[rep]
    assert await store.watermark(2) == len(log) - 1


_OUTCOMES = st.sampled_from(["meeting.held", "meeting.no_show", "meeting.canceled"])


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reports=st.lists(st.tuples(_OUTCOMES, st.integers(0, 3), st.integers(2, 4)), max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=3),
    seed=st.integers(0, 2**16),
)
async def test_each_meeting_counts_once_as_its_strongest_outcome_live_as_offline(
    store: Store, reports: list[tuple[str, int, int]], cuts: list[int], seed: int
) -> None:
    """Outcome reports of a few meetings (Close's "completed", then the rep's no-show, CRM
    repeats), applied in batches with redeliveries: the Lua apply gives the offline fold."""
    store = fresh_store(store)
    lines = [
        event(f"r{i}", etype, at=f"2026-11-0{day}T10:00:00Z", meeting_id=f"m{m}")
        for i, (etype, m, day) in enumerate(reports)
    ]
    routing = Routing(UTC, {})
    records = [Record("t", 1, offset, b"k", raw) for offset, raw in enumerate(lines)]
    planned = ingest(records, keys=store.keys, routing=routing, memo={}).batches.get(1, [])
    rng = random.Random(seed)
    position = 0
    for cut in [*sorted(cuts), len(planned)]:
        end = max(position, min(cut, len(planned)))
        await store.apply({1: planned[rng.randint(0, position) : end]})
        position = end
    offline = fold(lines, routing)
    for day in ("2026-11-02", "2026-11-03", "2026-11-04"):
        live = {
            k: v
            for k, v in (await store.counts("rep", "rep-1", f"day:{day}")).items()
            if k.startswith("meeting.") and v
        }
        expected = offline.days.get(("rep", "rep-1", f"day:{day}"), Counter())
        assert live == {k: v for k, v in expected.items() if v}, day


_MEETING_REPORTS = st.sampled_from(
    ["meeting.booked", "meeting.held", "meeting.no_show", "meeting.canceled", "meeting.rescheduled"]
)


@hsettings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reports=st.lists(
        st.tuples(
            _MEETING_REPORTS,
            st.integers(0, 2),  # meeting
            st.sampled_from([None, "L-1", "L-2"]),  # lead
            st.integers(0, 40),  # hour
        ),
        max_size=20,
    ),
    cuts=st.lists(st.integers(0, 20), max_size=3),
)
# A rebooking of the lead closes the earlier no-show; a late one does not close a newer one.
@example(
    reports=[("meeting.booked", 0, "L-1", 1), ("meeting.no_show", 0, None, 2),
             ("meeting.booked", 1, "L-1", 3)],
    cuts=[2],
)  # fmt: skip
@example(
    reports=[("meeting.booked", 0, "L-1", 1), ("meeting.no_show", 0, None, 5),
             ("meeting.booked", 1, "L-1", 3)],
    cuts=[],
)  # fmt: skip
async def test_the_lua_apply_keeps_the_watches_the_no_show_rules_state(
    store: Store, reports: list[tuple[str, int, str | None, int]], cuts: list[int]
) -> None:
    """Reports of a few meetings of two leads, out of time order, in batches: the watches
    in Redis are ``noshow.fold`` of the planned ones (last writer wins, carried fields,
    a rebooking closes the earlier no-show)."""
    store = fresh_store(store)
    lines = []
    for i, (etype, m, lead, hour) in enumerate(reports):
        at = f"2026-11-{2 + hour // 24:02d}T{hour % 24:02d}:00:00Z"
        data: dict[str, object] = {"meeting_id": f"m{m}"}
        if etype in ("meeting.booked", "meeting.rescheduled"):
            data["scheduled_for"] = "2026-11-05T10:00:00Z"
        if lead is not None and etype != "meeting.no_show":  # a no-show names no lead
            data["lead_id"] = lead
        lines.append(event(f"w{i}", etype, at=at, **data))
    rule = NoShowRule()

    def watch(e: Event) -> Watch | None:
        return transition(e, rule, lambda rep: WorkCalendar(UTC))

    records = [Record("t", 1, offset, b"k", raw) for offset, raw in enumerate(lines)]
    planned = ingest(records, keys=store.keys, routing=Routing(UTC, {}), watch=watch)
    plans = planned.batches.get(1, [])
    position = 0
    for cut in [*sorted(cuts), len(plans)]:
        end = max(position, min(cut, len(plans)))
        await store.apply({1: plans[position:end]})
        position = end
    leads: dict[str, str] = {}
    expected = fold_watches((p.watch for p in plans if p.watch is not None), leads)
    for meeting, kept in expected.items():
        raw = await store.redis.get(store.keys.watch(1, meeting))
        assert raw is not None, meeting
        assert Watch.loads(raw) == Watch.loads(kept.dumps()), meeting
    # Beside them, the index of when each open watch is due and of each lead's last meeting.
    due = dict(await store.redis.zrange(store.keys.watch_due(1), 0, -1, withscores=True))
    assert due == pytest.approx(
        {m: w.due.timestamp() for m, w in expected.items() if w.due is not None}
    )
    assert await store.redis.hgetall(store.keys.watch_leads(1)) == leads
