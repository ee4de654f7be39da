"""Getting events into Kafka: topics, replay, CSV/JSONL import and the dead-letter workflow."""
