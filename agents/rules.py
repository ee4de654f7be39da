"""The rules timer: ``spm_stream.rules.engine.RulesEngine`` on the leader → alerts topic.

Only the leader worker runs it, by default in a child process of its own
(``ProcessRules``: a long tick never delays the stream), publishing with
kafka-python (``KafkaPublish``), every alert acked before the engine records it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from redis.exceptions import RedisError

from agents.child import ChildDied, ChildProcess
from spm_stream.config.directory import Directory
from spm_stream.config.settings import Settings
from spm_stream.config.targets import ReloadingTargets
from spm_stream.rules.alerts import Alert
from spm_stream.rules.engine import RulesEngine
from spm_stream.store.redis_store import Store

if TYPE_CHECKING:  # the rules process imports this module: it needs neither Faust nor the app
    import faust

    from agents.runtime import Runtime

__all__ = ["KafkaPublish", "ProcessRules", "register", "rules_tick"]

log = logging.getLogger("spm_stream.agents.rules")

_ACK_TIMEOUT_S = 30.0


class KafkaPublish:
    """The rules process's ``publish``: kafka-python, every alert acked before it returns."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: KafkaProducer | None = None

    async def __call__(self, alerts: Sequence[Alert]) -> None:
        if self._producer is None:  # at the first alert: a tick without any needs no broker
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.bootstrap_servers, acks="all", linger_ms=5
            )
        sent = [
            self._producer.send(
                self.settings.alerts_topic, key=alert.partition_key, value=alert.dumps()
            )
            for alert in alerts
        ]
        # Bounded: with the broker away the tick fails (and the next one retries) instead
        # of waiting out kafka-python's two-minute delivery timeout.
        self._producer.flush(timeout=_ACK_TIMEOUT_S)
        for future in sent:
            # Produced before the watch or marker that records it is written; a failed
            # send raises here, so the tick stops before recording anything.
            future.get(timeout=_ACK_TIMEOUT_S)

    def close(self, timeout_s: float = 5.0) -> None:
        """Flush and stop the producer's thread, which otherwise retries an absent broker.

        kafka-python raises ``KafkaTimeoutError`` (and leaves the thread running) when
        pending alerts are not acked within ``timeout_s``."""
        if self._producer is not None:
            self._producer.close(timeout=timeout_s)
            self._producer = None


def _engine_in_child(settings: Settings, directory: Directory) -> RulesEngine:
    """Built in the rules process: its own Redis connection and Kafka producer."""
    return RulesEngine(
        Store.from_settings(settings),
        directory,
        ReloadingTargets(settings.targets),
        KafkaPublish(settings),
    )


class ProcessRules:
    """The engine in a child process (``agents.child``), spawned when this worker leads."""

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self._child = ChildProcess("spm-rules", _engine_in_child, settings, directory)
        self._stopping = False

    async def prepare(self) -> None:
        """Spawn the child ahead of the first tick; a failure is left for the tick to retry."""
        if self._stopping:
            return
        try:
            await self._child.start()
        except ChildDied as exc:
            log.error("rules process did not start, the next tick retries: %r", exc)
        if self._stopping:
            # The worker began to stop while the child started (a rebalance at shutdown):
            # close it, or the exiting worker would wait for a child nobody stops.
            await self._child.close()

    async def tick(self, now: datetime) -> list[Alert]:
        await self._child.start()
        try:
            raised = await self._child.call("tick", now)
        except ChildDied:
            # The rules keep their state in Redis: a new process carries on at the next tick.
            await self._child.close()
            raise
        assert isinstance(raised, list)
        return raised

    async def close(self) -> None:
        """Stop the child (this worker no longer leads); a later lead spawns a new one."""
        await self._child.close()

    async def shutdown(self) -> None:
        """Stop the child for good: the worker is stopping."""
        self._stopping = True
        await self._child.close()


def register(app: faust.App, rt: Runtime) -> None:
    """Schedule the rules timer on the leader; alerts go to the alerts topic."""
    interval = rt.settings.rules_interval_s
    if interval <= 0:
        log.info("rules timer off (SPM_RULES_INTERVAL_S=0)")
        return
    engine: RulesEngine | ProcessRules
    if rt.settings.rules_process:
        engine = child = ProcessRules(rt.settings, rt.directory)

        @app.on_partitions_assigned.connect
        async def spawn_when_leading(sender: Any, /, *args: Any, **kwargs: Any) -> None:
            # In the background: the spawn (~1 s of imports) neither holds up the
            # rebalance nor lands in the first tick. Other workers never spawn one.
            if app.is_leader():
                app.add_future(child.prepare())
            else:  # no longer leading: the new leader has its own
                app.add_future(child.close())

        @app.on_before_shutdown.connect
        async def stop_rules(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
            await child.shutdown()

    else:
        alerts_topic = rt.topics.alerts

        async def publish(alerts: Sequence[Alert]) -> None:
            for alert in alerts:
                await alerts_topic.send(key=alert.partition_key, value=alert.dumps())
            # Produced before the watch or marker that records it is written.
            await app.producer.flush()

        engine = RulesEngine(rt.store, rt.directory, rt.targets, publish)

    @app.timer(interval, on_leader=True, name="rules")
    async def evaluate_rules() -> None:
        await rules_tick(engine)


async def rules_tick(engine: RulesEngine | ProcessRules) -> None:
    """One tick of the rules at the wall clock; a failure waits for the next tick."""
    started = time.perf_counter()
    try:
        raised = await engine.tick(datetime.now(UTC))
    except (RedisError, KafkaError, OSError, ChildDied) as exc:
        log.error("rules tick failed, the next one retries: %r", exc)
        return
    # In the worker's own loop (SPM_RULES_PROCESS=false) a long tick delays the stream.
    took_ms = round((time.perf_counter() - started) * 1000)
    if raised:
        log.info(
            "rules raised %d alert(s)",
            len(raised),
            extra={"rules": sorted({a.rule for a in raised}), "took_ms": took_ms},
        )
    else:
        log.log(logging.INFO if took_ms >= 100 else logging.DEBUG, "rules tick took %d ms", took_ms)
