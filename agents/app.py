"""The Faust application of a worker process, built from validated settings.

``create_app`` wires the topics, the agents (``agents.counters``,
``agents.notifier``), the leader's timers (live leaderboards in ``agents.boards``,
rules in ``agents.rules``, delivery in ``agents.notifier``) and the HTTP endpoints
(``agents.web``, CRM webhooks in ``agents.webhooks``). Run it with ``spm-stream worker``.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import faust

from agents.faust_compat import PerEventQuietMonitor, consumer_class, unchecked_versions
from agents.runtime import Runtime, declare_topics
from spm_stream.config.directory import Directory
from spm_stream.config.scopes import Routing
from spm_stream.config.settings import Settings
from spm_stream.config.targets import ReloadingTargets
from spm_stream.store.redis_store import Store

__all__ = ["create_app", "new_faust_app"]

log = logging.getLogger("spm_stream.agents.app")


def new_faust_app(settings: Settings, **options: Any) -> faust.App:
    """A Faust app with what the worker and the benchmark's do-nothing reference share."""
    app = faust.App(settings.app_id, **_faust_options(settings), **options)
    # A ClassVar in Faust, set on this app's transport only: the consumer is created
    # from it when the worker starts.
    app.transport.Consumer = consumer_class(settings.kafka_fetch_max_wait_ms)  # type: ignore[misc]

    @app.task
    async def freeze_startup_objects() -> None:
        # Faust, aiokafka, pydantic and the templates leave ~10^6 long-lived objects
        # that every full collection walked again: 100 ms pauses of the stream every
        # few seconds under load. Frozen, the collector skips them.
        gc.freeze()

    return app


def _faust_options(settings: Settings) -> dict[str, Any]:
    session = settings.kafka_session_timeout_s
    options: dict[str, Any] = {
        "broker": [f"kafka://{host}" for host in settings.bootstrap_servers],
        "store": "memory://",
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        "broker_session_timeout": session,
        "broker_heartbeat_interval": max(0.5, session / 6),
        "broker_rebalance_timeout": max(session, 10.0),
        "broker_commit_interval": 1.0,
        # A catch-up round fetches nothing for up to SPM_CATCHUP_MAX_S (agents/catchup.py);
        # past the poll interval aiokafka would leave the group.
        "broker_max_poll_interval": max(1000.0, settings.catchup_max_s + 300.0),
        "worker_redirect_stdouts": False,
    }
    if not settings.faust_event_stats:
        options["monitor"] = PerEventQuietMonitor()
    return options


def create_app(settings: Settings, directory: Directory) -> faust.App:
    """Build the worker's Faust app; nothing connects until the worker starts."""
    app = new_faust_app(
        settings,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        producer_acks=-1,
    )
    settings.check_exposure()
    runtime = Runtime(
        settings=settings,
        directory=directory,
        routing=Routing.from_directory(directory),
        targets=ReloadingTargets(settings.targets),
        store=Store.from_settings(settings),
        topics=declare_topics(app, settings),
    )
    if unchecked := unchecked_versions():
        log.warning(
            "Faust internals were checked against other versions than %s; "
            "see agents/faust_compat.py",
            ", ".join(unchecked),
        )
    from agents import boards, catchup, counters, notifier, rules, slack, tv, web, webhooks

    counters.register(app, runtime)
    catchup.register(app, runtime)
    boards.register(app, runtime)
    rules.register(app, runtime)
    delivering = notifier.register(app, runtime)
    web.register(app, runtime, delivering)
    slack.register(app, runtime, delivering)
    tv.register(app, runtime)
    webhooks.register(app, runtime)
    return app
