"""The bulk path's plan: whole partitions per process, and what is left to read."""

from __future__ import annotations

from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from agents.bulk import Plan, _as_records, split
from agents.catchup import lagging
from spm_stream.counting.ingest import Record


@given(st.sets(st.integers(0, 63), max_size=64), st.integers(1, 16))
def test_every_partition_goes_to_exactly_one_process(partitions: set[int], n: int) -> None:
    groups = split(sorted(partitions), n)
    flat = [p for g in groups for p in g]
    assert sorted(flat) == sorted(partitions)
    assert len(groups) <= n
    assert all(groups)
    if groups:
        sizes = [len(g) for g in groups]
        assert max(sizes) - min(sizes) <= 1  # spread evenly


def test_what_is_left_counts_from_after_the_watermark_to_the_end() -> None:
    todo = Plan(start={0: 10, 1: 5, 2: 7}, end={0: 15, 1: 5, 2: 6})
    assert todo.events == 5  # a partition already past its end (2) adds nothing


def test_a_catch_up_takes_only_the_partitions_past_the_threshold() -> None:
    todo = Plan(start={0: 0, 1: 500, 2: 90, 3: 7}, end={0: 1000, 1: 1000, 2: 100, 3: 7})
    behind = lagging(todo, threshold=500)
    assert (behind.start, behind.end) == ({0: 0}, {0: 1000})
    assert behind.events == 1000
    assert lagging(todo, threshold=0).end == {0: 1000, 1: 1000, 2: 100}  # 3 has nothing left


def _consumer_record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("t", 3, offset, 0, 0, b"k", b"v%d" % offset, None, 1, 2, ())


def test_fetched_records_become_records_before_the_end_offset_hooked_or_not() -> None:
    hooked = [Record("t", 3, o, b"k", b"v%d" % o) for o in range(10, 15)]
    as_aiokafka = [_consumer_record(o) for o in range(10, 15)]
    for batch in (hooked, as_aiokafka):
        assert _as_records(batch, "t", end=13) == hooked[:3]
        assert _as_records(batch, "t", end=15) == hooked
        assert _as_records([], "t", end=13) == []
    assert _as_records(hooked, "t", end=15) is hooked  # no copy when nothing is cut
