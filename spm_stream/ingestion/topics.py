"""Kafka topic administration with kafka-python: create what spm-stream needs, idempotently."""

from __future__ import annotations

import contextlib
import logging
import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from spm_stream.config.settings import ConfigError, Settings

__all__ = ["delete_topics_with_prefix", "ensure_topics"]

log = logging.getLogger("spm_stream.ingestion.topics")


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the input and dead-letter topics if missing; fail if the input has too few partitions.

    The key layout shards state by partition, so the input topic must have
    exactly ``SPM_PARTITIONS`` partitions.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.bootstrap_servers, client_id="spm-stream-admin"
            )
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise ConfigError(f"SPM_KAFKA_URL: cannot reach Kafka: {exc!r}") from None
            time.sleep(0.5)
    try:
        wanted = [
            NewTopic(settings.topic, settings.partitions, settings.replication_factor),
            NewTopic(settings.dlq_topic, 1, settings.replication_factor),
            NewTopic(settings.alerts_topic, 1, settings.replication_factor),
        ]
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            # Another worker may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
            log.info("created topics %s", [t.name for t in missing])
        described = admin.describe_topics([settings.topic])
        partitions = len(described[0]["partitions"]) if described else 0
        if partitions and partitions != settings.partitions:
            raise ConfigError(
                f"SPM_PARTITIONS: topic {settings.topic!r} has {partitions} partitions, "
                f"settings say {settings.partitions}"
            )
    finally:
        admin.close()


def delete_topics_with_prefix(
    settings: Settings, prefix: str, timeout_s: float = 10.0
) -> list[str]:
    """Delete every topic whose name starts with ``prefix`` (a benchmark's own); their names.

    Raises ``KafkaError`` if the broker does not answer within ``timeout_s``."""
    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="spm-stream-admin",
        bootstrap_timeout_ms=int(timeout_s * 1000),
    )
    try:
        doomed = sorted(t for t in admin.list_topics() if t.startswith(prefix))
        if doomed:
            # Gone already (another cleanup, retention) is what we wanted anyway.
            with contextlib.suppress(UnknownTopicOrPartitionError):
                admin.delete_topics(doomed)
        return doomed
    finally:
        admin.close()
