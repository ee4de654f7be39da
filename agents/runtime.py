"""What the agents of one worker share: settings, directory, store, topics, live counters.

Its own module so that ``agents.app`` (which builds the app and registers the
agents) and the agents (which take a ``Runtime``) do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faust

from agents.guard import ReadGuard
from spm_stream.config.directory import Directory
from spm_stream.config.scopes import Routing
from spm_stream.config.settings import Settings
from spm_stream.config.targets import ReloadingTargets
from spm_stream.store.redis_store import Store

__all__ = ["Runtime", "Topics", "declare_topics"]


@dataclass(frozen=True, slots=True)
class Topics:
    """The worker's Kafka topics, declared once (raw bytes: the contract parses them)."""

    source: faust.TopicT
    dlq: faust.TopicT
    alerts: faust.TopicT


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """The input, dead-letter and alerts topics of ``settings`` on ``app``."""

    def raw(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    return Topics(raw(settings.topic), raw(settings.dlq_topic), raw(settings.alerts_topic))


@dataclass
class Runtime:
    """What the agents share in one worker: settings, directory, store, live counters."""

    settings: Settings
    directory: Directory
    routing: Routing
    targets: ReloadingTargets
    store: Store
    topics: Topics
    consumed: int = 0
    rejected: int = 0
    redis_retries: int = 0
    alerts_raised: int = 0
    notifications_sent: int = 0
    webhook_events: int = 0
    webhook_rejects: int = 0
    caught_up: int = 0  # events this worker applied by automatic catch-up (agents/catchup.py)
    guard: ReadGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = ReadGuard(self.settings, self.store)
