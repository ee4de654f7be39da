"""Planning what an event changes, and the wire format to the Lua script."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spm_stream.config.scopes import Routing
from spm_stream.contract.events import DealWonData, Event, EventType, parse_event
from spm_stream.counting.ingest import Record, ingest
from spm_stream.counting.planning import ORG, PLAN_MEMO_LIMIT, PlanMemo, plan_event, plan_reject
from spm_stream.store.keys import Keys
from spm_stream.store.redis_store import Ttls, encode_batch
from tests.events import event

KEYS = Keys("spm", "crm-events", 4)
UTC = ZoneInfo("UTC")
TTLS = Ttls(counters_s=1000, dedupe_s=10)


def _event(
    i: int,
    etype: str = "activity.call",
    rep: str = "rep-1",
    team: str | None = "t1",
    at: str = "2026-11-02T23:30:00Z",
) -> bytes:
    return event(f"e{i}", etype, rep=rep, at=at, team=team)


def test_call_counts_for_rep_team_org_and_boards() -> None:
    plan = plan_event(
        parse_event(_event(1)), offset=5, partition=2, keys=KEYS, routing=Routing(UTC, {})
    )
    targets = {(op.kind, op.key, op.field) for op, _ in plan.ops}
    assert targets == {
        ("hincr", "spm:{crm-events:2}:cnt:rep:rep-1:day:2026-11-02", "activity.call"),
        ("hincr", f"spm:{{crm-events:2}}:cnt:org:{ORG}:day:2026-11-02", "activity.call"),
        ("hincr", "spm:{crm-events:2}:cnt:team:t1:day:2026-11-02", "activity.call"),
        ("sadd", "spm:{crm-events:2}:members:team:t1", "rep-1"),
        ("sadd", "spm:{crm-events:2}:members:org", "rep-1"),
    }
    assert plan.seen_key == "spm:{crm-events:2}:seen:2026-11-02"
    assert plan.offset == 5
    assert not plan.rejected


def test_every_key_of_a_partition_shares_its_hash_tag() -> None:
    plan = plan_event(
        parse_event(_event(1)), offset=0, partition=3, keys=KEYS, routing=Routing(UTC, {})
    )
    keys, _ = encode_batch(KEYS, 3, [plan], TTLS)
    assert all("{crm-events:3}" in key for key in keys)


def test_day_follows_the_org_time_zone() -> None:
    # 23:30 UTC on 2 Nov is already 3 Nov in Berlin.
    plan = plan_event(
        parse_event(_event(1)),
        offset=0,
        partition=0,
        keys=KEYS,
        routing=Routing(ZoneInfo("Europe/Berlin")),
    )
    assert all(op.key.endswith("day:2026-11-03") for op, _ in plan.ops if op.kind != "sadd")
    # The dedupe window is by UTC day, whatever the zone.
    assert plan.seen_key is not None
    assert plan.seen_key.endswith("seen:2026-11-02")


def test_team_from_event_wins_then_directory_then_none() -> None:
    no_team = parse_event(_event(1, team=None))
    from_dir = plan_event(
        no_team, offset=0, partition=0, keys=KEYS, routing=Routing(UTC, {"rep-1": "t9"})
    )
    assert any(":team:t9:" in op.key for op, _ in from_dir.ops)
    alone = plan_event(no_team, offset=0, partition=0, keys=KEYS, routing=Routing(UTC, {}))
    assert not any(":team:" in op.key for op, _ in alone.ops)
    with_team = plan_event(
        parse_event(_event(1, team="t1")),
        offset=0,
        partition=0,
        keys=KEYS,
        routing=Routing(UTC, {"rep-1": "t9"}),
    )
    assert any(":team:t1:" in op.key for op, _ in with_team.ops)


def test_non_board_types_only_count() -> None:
    plan = plan_event(
        parse_event(_event(1, "activity.social")),
        offset=0,
        partition=0,
        keys=KEYS,
        routing=Routing(UTC, {}),
    )
    assert {op.kind for op, _ in plan.ops} == {"hincr", "sadd"}


def test_ingest_splits_by_partition_and_rejects_bad_records() -> None:
    records = [
        Record("crm-events", 0, 10, b"rep-1", _event(1)),
        Record("crm-events", 1, 3, b"rep-2", b"{not json"),
        Record("crm-events", 0, 11, b"rep-1", _event(2)),
    ]
    result = ingest(records, keys=KEYS, routing=Routing(UTC, {}))
    assert [p.offset for p in result.batches[0]] == [10, 11]
    assert [p.rejected for p in result.batches[1]] == [True]
    (reject,) = result.rejects
    assert reject.record.offset == 3
    assert "malformed JSON" in reject.reason
    headers = dict(reject.headers())
    assert headers["spm-source"] == b"crm-events:1:3"
    assert headers["spm-reason"].startswith(b"malformed JSON")


def test_an_event_a_planner_cannot_take_is_rejected_alone() -> None:
    """A valid event that makes a planner raise goes to the DLQ with the reason; the rest
    of its batch is planned (before, the exception lost the whole batch)."""

    def watch(event: Event) -> None:
        if event.event_id == "e2":
            raise OverflowError("date value out of range")

    records = [
        Record("crm-events", 0, offset, b"r", event(f"e{offset}", "meeting.held", meeting_id="m"))
        for offset in (1, 2, 3)
    ]
    result = ingest(records, keys=KEYS, routing=Routing(UTC, {}), watch=watch)
    assert [p.rejected for p in result.batches[0]] == [False, True, False]
    (reject,) = result.rejects
    assert reject.record.offset == 2
    assert reject.reason == "could not be planned: OverflowError: date value out of range"


def test_an_increment_the_store_cannot_add_exactly_is_refused() -> None:
    data = DealWonData.model_construct(deal_id="d", amount=1e16, currency="EUR", product="p")
    won = parse_event(_event(1)).model_copy(update={"type": EventType.DEAL_WON, "data": data})
    with pytest.raises(ValueError, match=r"rev\|EUR: increment 100000000000000000000 "):
        plan_event(won, offset=0, partition=0, keys=KEYS, routing=Routing(UTC, {}))


def test_a_memo_shares_plans_across_batches_and_is_emptied_when_full() -> None:
    memo: PlanMemo = {}
    routing = Routing(UTC, {})
    first = ingest([Record("t", 0, 1, b"r", _event(1))], keys=KEYS, routing=routing, memo=memo)
    second = ingest([Record("t", 0, 2, b"r", _event(2))], keys=KEYS, routing=routing, memo=memo)
    # The same rep, type and day in a later batch: the same plan object, not a rebuilt one.
    assert second.batches[0][0].ops is first.batches[0][0].ops
    assert second.batches[0][0].event_id == "e2"
    # The plan, and where the rep's events count on that day (for plans of other types).
    assert {kind for _, _, _, kind in memo} == {EventType.ACTIVITY_CALL, None}
    slot, entry = next(iter(memo.items()))
    for n in range(1, PLAN_MEMO_LIMIT + 1):  # stale entries fill it up
        memo[(n, *slot[1:])] = entry
    ingest([Record("t", 0, 3, b"r", _event(3))], keys=KEYS, routing=routing, memo=memo)
    assert len(memo) == 2


def test_plans_that_depend_on_data_share_where_the_rep_counts_that_day() -> None:
    """Two won deals of a rep on one day: each plan adds its own amount, to counters whose
    keys were built once (the memo's entry of type None), as one-by-one planning does."""
    memo: PlanMemo = {}
    routing = Routing(ZoneInfo("America/Los_Angeles"), {"rep-1": "t9"})
    won = [
        event(f"d{i}", "deal.won", rep="rep-1", at=f"2026-11-02T1{i}:00:00Z", deal_id=f"D{i}",
              amount=1000.0 * (i + 1), currency="EUR", product="p")
        for i in range(2)
    ]  # fmt: skip
    plans = [
        plan_event(parse_event(raw), offset=i, partition=0, keys=KEYS, routing=routing, memo=memo)
        for i, raw in enumerate(won)
    ]
    alone = [
        plan_event(parse_event(raw), offset=i, partition=0, keys=KEYS, routing=routing)
        for i, raw in enumerate(won)
    ]
    assert plans == alone
    assert plans[0].ops != plans[1].ops  # their amounts differ
    assert plans[1].ops[0][0].key is plans[0].ops[0][0].key  # the key built once


def test_events_sharing_a_plan_share_its_encoding() -> None:
    memo: PlanMemo = {}
    plans = [
        plan_event(
            parse_event(_event(i, rep=f"rep-{i % 2}")),
            offset=i,
            partition=0,
            keys=KEYS,
            routing=Routing(UTC, {}),
            memo=memo,
        )
        for i in range(6)
    ]
    _, payload = encode_batch(KEYS, 0, plans, TTLS)
    decoded = msgspec.msgpack.decode(payload)
    assert len(decoded["plans"]) == 2
    assert decoded["plan"] == [1, 2, 1, 2, 1, 2]


@st.composite
def batches(draw: st.DrawFn) -> list:
    n = draw(st.integers(1, 30))
    offsets = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    plans = []
    for i, offset in enumerate(offsets):
        if draw(st.booleans()) and draw(st.booleans()):
            plans.append(plan_reject(offset))
            continue
        etype = draw(
            st.sampled_from(["activity.call", "activity.email", "deal.won", "lead.created"])
        )
        data = {
            "deal.won": ',"data":{"deal_id":"d","amount":1,"currency":"USD","product":"p"}',
            "lead.created": ',"data":{"lead_id":"l"}',
        }.get(etype, "")
        rep = draw(st.sampled_from(["rep-1", "rep-2", "rep-3"]))
        raw = (
            f'{{"event_id":"e{draw(st.integers(0, 20))}","type":"{etype}",'
            f'"occurred_at":"2026-11-0{1 + i % 3}T10:00:00Z","rep_id":"{rep}"{data}}}'
        )
        plans.append(
            plan_event(
                parse_event(raw),
                offset=offset,
                partition=1,
                keys=KEYS,
                routing=Routing(UTC, {"rep-1": "t1"}),
            )
        )
    return plans


@given(batches())
def test_encoding_keeps_every_increment_in_offset_order(plans: list) -> None:
    keys, payload = encode_batch(KEYS, 1, plans, TTLS)
    decoded = msgspec.msgpack.decode(payload)
    assert keys[:2] == [KEYS.watermark(1), KEYS.stats(1)]
    assert len(keys) == len(set(keys))
    assert decoded["offsets"] == sorted(p.offset for p in plans)
    assert decoded["watches"] == []  # no watch planner given
    # The runs cover every event once, in order, each a stretch of one seen set.
    seen_of: list[int] = []
    for seen, first, last in decoded["runs"]:
        assert first == len(seen_of) + 1
        assert not seen_of or seen_of[-1] != seen  # a run is as long as it can be
        seen_of += [seen] * (last - first + 1)
    by_offset = {p.offset: p for p in plans}
    columns = zip(decoded["offsets"], decoded["ids"], seen_of, decoded["plan"], strict=True)
    for offset, event_id, seen_index, plan_index in columns:
        plan = by_offset[offset]
        if plan.rejected:
            assert (event_id, seen_index, plan_index) == ("", 0, 0)
            continue
        assert event_id == plan.event_id
        incs = decoded["plans"][plan_index - 1]
        assert keys[seen_index - 1] == plan.seen_key
        rebuilt = set()
        for op_index, amount in zip(incs[::2], incs[1::2], strict=True):
            kind, key_index, field = decoded["ops"][op_index - 1]
            rebuilt.add((kind, keys[key_index - 1], field, amount))
        assert rebuilt == {(op.kind, op.key, op.field, amount) for op, amount in plan.ops}


def test_each_key_class_gets_its_own_ttl() -> None:
    raw = _event(1, "deal.won", team="t1").replace(
        b"}", b',"data":{"deal_id":"d","amount":5,"currency":"USD","product":"p"}}'
    )
    plan = plan_event(parse_event(raw), offset=0, partition=0, keys=KEYS, routing=Routing(UTC))
    keys, payload = encode_batch(KEYS, 0, [plan], TTLS)
    ttl_of = {keys[index - 1]: ttl for index, ttl in msgspec.msgpack.decode(payload)["expire"]}
    assert ttl_of[KEYS.seen(0, "2026-11-02")] == 10
    assert ttl_of[KEYS.counts(0, "rep", "rep-1", "day:2026-11-02")] == 1000
    assert ttl_of[KEYS.counts(0, "team", "t1", "day:2026-11-02")] == 1000
    # Ramp facts and membership are one entry per rep and never expire.
    assert KEYS.ramp(0, "first_win") not in ttl_of
    assert KEYS.members(0, "t1") not in ttl_of


def test_memoised_plans_equal_fresh_plans_across_midnights_and_dst() -> None:
    """A memo hit must plan exactly what planning afresh would, in every zone."""
    zones = {"rep-1": ZoneInfo("Europe/Berlin"), "rep-2": ZoneInfo("Asia/Kathmandu")}
    routing = Routing(
        zone=ZoneInfo("America/St_Johns"),  # UTC-3:30 / -2:30: midnights on half hours
        team_of={"rep-1": "t1", "rep-2": None},
        rep_zones=zones,
    )
    keys = Keys("spm", "crm-events", 4)
    start = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # Berlin leaves DST on the 25th
    memo: PlanMemo = {}
    checked = 0
    planned = []  # kept alive, so that distinct plans have distinct ids
    for minutes in range(0, 36 * 60, 7):
        at = start + timedelta(minutes=minutes)
        for rep in ("rep-1", "rep-2"):
            for etype in ("activity.call", "meeting.held", "lead.qualified"):
                data = {"meeting_id": "m"} if etype == "meeting.held" else {"lead_id": "l"}
                eid = f"{rep}-{etype}-{minutes}"
                parsed = parse_event(event(eid, etype, rep, at.isoformat(), **data))
                fresh = plan_event(parsed, offset=minutes, partition=1, keys=keys, routing=routing)
                cached = plan_event(
                    parsed, offset=minutes, partition=1, keys=keys, routing=routing, memo=memo
                )
                assert cached == fresh
                planned.append(cached.ops)
                checked += 1
    assert checked > 1000
    assert len({id(ops) for ops in planned}) < checked / 10  # the memo was actually hit


#: Around the days Havana, Santiago and Beirut change their clocks at midnight.
_DST_MIDNIGHTS = [
    datetime(2026, 10, 31, 12, tzinfo=UTC),
    datetime(2026, 9, 5, 12, tzinfo=UTC),
    datetime(2026, 3, 28, 12, tzinfo=UTC),
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_DST_MIDNIGHTS),
            st.integers(-3 * 86_400, 3 * 86_400),  # seconds from that day's noon
            st.sampled_from(["rep-1", "rep-2", "rep-3"]),
            st.sampled_from(["activity.call", "activity.email", "lead.qualified"]),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_memoised_plans_equal_fresh_plans_in_any_order_in_odd_zones(
    draws: list[tuple[datetime, int, str, str]],
) -> None:
    """Events in any order around days whose midnight is skipped or repeated: a memo hit
    plans exactly what planning afresh does."""
    routing = Routing(
        zone=ZoneInfo("Asia/Beirut"),
        team_of={"rep-1": "t1"},
        rep_zones={"rep-1": ZoneInfo("America/Havana"), "rep-2": ZoneInfo("America/Santiago")},
    )
    memo: PlanMemo = {}
    for offset, (noon, seconds, rep, etype) in enumerate(draws):
        at = (noon + timedelta(seconds=seconds)).isoformat()
        data = {"lead_id": "L-1"} if etype == "lead.qualified" else {}
        parsed = parse_event(event(f"e{offset}", etype, rep, at, **data))
        fresh = plan_event(parsed, offset=offset, partition=0, keys=KEYS, routing=routing)
        cached = plan_event(
            parsed, offset=offset, partition=0, keys=KEYS, routing=routing, memo=memo
        )
        assert cached == fresh
