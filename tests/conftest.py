"""Shared test configuration.

Hypothesis is configured (and so imported) here, at collection time. Besides
setting the profiles, this avoids a CPython 3.11.7 bug: hypothesis's pytest
plugin otherwise imports it lazily at session end, deep in the stack, where
assertion rewriting hits "AST constructor recursion depth mismatch".
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# The services and the fixtures on them (Kafka, Redis, the local Slack server, workers),
# and one deployment's shell on a test clock (make_stack).
pytest_plugins = ["tests.fixtures", "tests.stack"]
