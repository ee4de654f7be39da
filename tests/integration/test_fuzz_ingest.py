"""Fuzzed input end to end: mutated and random records never crash the worker; every reject
lands in the dead-letter topic with its reason; the valid ones are counted."""

from __future__ import annotations

import random

import pytest

from spm_stream.config.settings import Settings
from spm_stream.contract.events import InvalidEvent, parse_event
from spm_stream.store.redis_store import Store
from tests.events import event
from tests.fixtures import produce, read_topic, wait_for_processed

pytestmark = pytest.mark.integration


def _mutations(rng: random.Random, n: int) -> list[bytes]:
    base = [
        event("f", "deal.won", deal_id="d", amount=10.5, currency="EUR", product="p"),
        event(
            "f",
            "meeting.rescheduled",
            meeting_id="m",
            scheduled_for="2026-11-03T10:00:00Z",
            initiated_by="rep",
        ),
        event("f", "nps.response", score=9),
        event("f", "activity.call", team="t1"),
    ]
    out: list[bytes] = []
    for i in range(n):
        raw = bytearray(rng.choice(base).replace(b'"f"', f'"f-{i}"'.encode()))
        kind = rng.randrange(5)
        if kind == 0:  # flip bytes
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        elif kind == 1:  # truncate
            raw = raw[: rng.randrange(len(raw))]
        elif kind == 2:  # random bytes
            raw = bytearray(rng.randbytes(rng.randint(0, 64)))
        elif kind == 3:  # swap a value for a wrong type
            raw = bytearray(bytes(raw).replace(b'"rep-1"', rng.choice([b"1", b"null", b"[]"])))
        out.append(bytes(raw))  # kind 4: unchanged, valid
    return out


async def test_fuzzed_records_reach_the_dlq_with_reasons(
    settings: Settings, store: Store, start_worker
) -> None:
    records = _mutations(random.Random(1234), 600)
    expected_bad = []
    valid_ids = set()
    for raw in records:
        try:
            valid_ids.add(parse_event(raw).event_id)
        except InvalidEvent as exc:
            expected_bad.append((raw, str(exc)))
    assert 100 < len(expected_bad) < 600
    produce(settings, [(b"fuzz", raw) for raw in records])
    worker = start_worker()
    stats = await wait_for_processed(store, len(records), worker)
    assert worker.alive()
    assert stats.rejected == len(expected_bad)
    assert stats.counted == len(valid_ids)
    dead = read_topic(settings, settings.dlq_topic, len(expected_bad))
    got = sorted((r.value, dict(r.headers)["spm-reason"].decode()) for r in dead)
    assert got == sorted(expected_bad)
