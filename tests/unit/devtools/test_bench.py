"""The benchmark's clean-up: a failure is reported, never raised over the run's own error."""

from __future__ import annotations

import logging

import pytest

from spm_stream.config.settings import load_settings
from spm_stream.devtools.bench import clean_up


def test_a_failed_clean_up_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    nothing_there = load_settings(  # port 1: connections are refused at once
        kafka_url="kafka://127.0.0.1:1",
        redis_url="redis://127.0.0.1:1/0",
        topic="bench-gone",
        redis_prefix="bench-gone",
    )
    said: list[str] = []
    with caplog.at_level(logging.WARNING, logger="spm_stream.devtools.bench"):
        clean_up(nothing_there, redis=True, kafka=True, say=said.append, kafka_timeout_s=1)
    assert said == []
    assert "could not delete the Redis keys under bench-gone" in caplog.text
    assert "could not delete the topics bench-gone*" in caplog.text
