"""Produce a JSON Lines file of events to Kafka with kafka-python, keyed by rep_id."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import orjson
from kafka import KafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from spm_stream.config.settings import Settings

__all__ = ["produce", "record_key", "replay_file"]


def record_key(line: bytes) -> bytes | None:
    """The partition key of a raw line: its rep_id, or None when it has none (still produced)."""
    try:
        rep_id = orjson.loads(line).get("rep_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return rep_id.encode() if isinstance(rep_id, str) else None


def replay_file(settings: Settings, path: Path, topic: str) -> int:
    """Send every non-blank line of ``path`` to ``topic``; return how many were sent."""
    total = sum(1 for line in path.open("rb") if line.strip())
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        compression_type=None,
    )
    sent = 0
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, transient=True) as progress, path.open("rb") as lines:
            task = progress.add_task("replay", total=total)
            for line in lines:
                value = line.strip()
                if not value:
                    continue
                producer.send(topic, key=record_key(value), value=value)
                sent += 1
                if sent % 1000 == 0:
                    progress.update(task, completed=sent)
            producer.flush()
            progress.update(task, completed=sent)
    finally:
        producer.close()
    return sent


def produce(
    settings: Settings, records: Iterable[tuple[bytes | None, bytes]], topic: str | None = None
) -> int:
    """Send (key, value) records to ``topic`` (default SPM_TOPIC) and wait for every ack."""
    # Bulk: large batches, a short linger (a replay, an import, the benchmark's feed).
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
    )
    sent = 0
    try:
        for key, value in records:
            producer.send(topic or settings.topic, key=key, value=value)
            sent += 1
        producer.flush()
    finally:
        producer.close()
    return sent
