"""The dead-letter workflow: read rejects with their reasons, fix, send back.

Dead letters come from two places: the counters agent (a record on the input
topic that broke the contract) and the webhook endpoints (a CRM payload we
could not map, kept as the CRM's own record with an ``spm-crm`` header). A
replay maps CRM records again with the current ``crm:`` mapping (after an
owner was added, say) and re-validates canonical ones; ``--fixed`` sends
corrected events instead. Replayed letters are marked in Redis, so `dlq list`
shows what is still open and a second replay does not resend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from redis import Redis

from spm_stream.config.settings import Settings
from spm_stream.contract.events import InvalidEvent, parse_event
from spm_stream.crm.endpoints import remap
from spm_stream.crm.generic import Roster, add_canonical
from spm_stream.crm.mapping import CrmMappings
from spm_stream.crm.model import Mapped
from spm_stream.ingestion.replay import produce
from spm_stream.store.keys import Keys

__all__ = ["DeadLetter", "fixed_events", "read_dead_letters", "replay", "revive"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic, with the reason it was rejected."""

    partition: int
    offset: int
    at: datetime
    value: bytes
    reason: str
    field: str
    source: str
    crm: str | None
    replayed: str | None = None

    @property
    def id(self) -> str:
        """ "partition:offset": how the CLI names a dead letter."""
        return f"{self.partition}:{self.offset}"

    def as_json(self, *, full: bool = False) -> dict[str, Any]:
        """The letter for `dlq list/show --format json`; ``full`` includes the payload."""
        out: dict[str, Any] = {
            "id": self.id,
            "at": self.at.isoformat(),
            "source": self.source,
            "field": self.field,
            "reason": self.reason,
            "replayed": self.replayed,
        }
        if full:
            try:
                out["payload"] = orjson.loads(self.value)
            except orjson.JSONDecodeError:
                out["payload_text"] = self.value.decode(errors="replace")
        return out


def _keys(settings: Settings) -> Keys:
    return Keys(settings.redis_prefix, settings.topic, settings.partitions)


def read_dead_letters(settings: Settings, redis: Redis) -> list[DeadLetter]:
    """Every dead letter from the start of the topic to its current end (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(settings.dlq_topic) or ())
        assigned = [TopicPartition(settings.dlq_topic, p) for p in partitions]
        if not assigned:
            return []
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(assigned)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in assigned):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
    finally:
        consumer.close()
    marks: dict[Any, Any] = redis.hgetall(_keys(settings).dlq_replayed())
    replayed = {_text(k): _text(v) for k, v in marks.items()}
    return [_letter(r, replayed) for r in records]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _letter(record: Any, replayed: dict[str, str]) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or [])}
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        value=record.value or b"",
        reason=headers.get("spm-reason", ""),
        field=headers.get("spm-field", ""),
        source=headers.get("spm-source", ""),
        crm=headers.get("spm-crm"),
        replayed=replayed.get(f"{record.partition}:{record.offset}"),
    )


def revive(
    letter: DeadLetter, mappings: CrmMappings, now: datetime, roster: Roster | None = None
) -> Mapped:
    """What a dead letter gives now: CRM records mapped again, canonical ones re-validated
    (against ``roster`` too when the letter came through the canonical webhook)."""
    if letter.crm is not None and letter.crm != "events":
        return remap(letter.crm, letter.value, mappings, now)
    out = Mapped()
    add_canonical(out, letter.value, roster if letter.crm == "events" else None)
    return out


def fixed_events(path: Path) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """Corrected events from a JSON Lines file, and the problems of the lines that are not."""
    good: list[tuple[bytes, bytes]] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = parse_event(line)
        except InvalidEvent as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        good.append((event.rep_id.encode(), line.strip()))
    return good, problems


def replay(
    settings: Settings,
    redis: Redis,
    letters: Sequence[DeadLetter],
    events: Iterable[tuple[bytes, bytes]],
) -> int:
    """Produce ``events`` to the input topic, then mark ``letters`` replayed; return how many."""
    sent = produce(settings, events)
    if letters:
        now = datetime.now(UTC).isoformat()
        redis.hset(_keys(settings).dlq_replayed(), mapping={letter.id: now for letter in letters})
    return sent
