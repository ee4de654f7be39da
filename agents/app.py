"""The Faust application of a worker process, built from validated settings.

``create_app`` wires the topics, the agents (``agents.counters``), the leader's
live-leaderboard timer (``agents.boards``) and the health endpoints
(``agents.web``). Run it with ``spm-stream worker``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust

from spm_stream.directory import Directory
from spm_stream.scopes import Routing
from spm_stream.settings import Settings
from spm_stream.store import Store
from spm_stream.targets import ReloadingTargets

__all__ = ["Runtime", "create_app"]


@dataclass
class Runtime:
    """What the agents share in one worker: settings, directory, store, live counters."""

    settings: Settings
    directory: Directory
    routing: Routing
    targets: ReloadingTargets
    store: Store
    topics: dict[str, Any] = field(default_factory=dict)
    consumed: int = 0
    rejected: int = 0
    redis_retries: int = 0


def create_app(settings: Settings, directory: Directory) -> faust.App:
    """Build the worker's Faust app; nothing connects until the worker starts."""
    session = settings.kafka_session_timeout_s
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{host}" for host in settings.bootstrap_servers],
        store="memory://",
        datadir=str(settings.data_dir),
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=session,
        broker_heartbeat_interval=max(0.5, session / 6),
        broker_rebalance_timeout=max(session, 10.0),
        broker_commit_interval=1.0,
        worker_redirect_stdouts=False,
    )
    runtime = Runtime(
        settings=settings,
        directory=directory,
        routing=Routing.from_directory(directory),
        targets=ReloadingTargets(settings.targets),
        store=Store.from_settings(settings),
    )
    from agents import boards, counters, web

    counters.register(app, runtime)
    boards.register(app, runtime)
    web.register(app, runtime)
    return app
