"""`spm-stream demo`: the whole pipeline on one machine, with a local Slack page.

Starts (embedded unless SPM_KAFKA_URL/SPM_REDIS_URL are set) a broker and
Redis, the local Slack server and a worker process, then feeds generated CRM
events. With a duration it stops the feed, waits until every produced event is
processed, refreshes the boards once more, shuts everything down and returns a
summary. Every child process dies with the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

import yaml
from kafka import KafkaProducer

from spm_stream.access import sign_tv_query, tv_key
from spm_stream.config.directory import load_directory
from spm_stream.config.settings import Settings, load_settings, redact_url
from spm_stream.devtools.embedded import (
    EMBEDDED_SESSION_TIMEOUT_S,
    embedded_services,
    free_port,
    spawn,
    stop,
    wait_for_port,
)
from spm_stream.devtools.generator import Generator, demo_directory
from spm_stream.ingestion.topics import ensure_topics
from spm_stream.store.redis_store import Store

__all__ = ["DemoOptions", "run_demo"]


#: The demo's compressed clock: a rep's working day of activity passes in this many seconds,
#: so the boards show a believable day (dozens of calls a rep, not thousands).
DEMO_DAY_S: Final = 300.0
#: Episodes (a call, an e-mail, a booking and what follows) a rep starts in a working day.
EPISODES_PER_REP_DAY: Final = 45


@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs: how long, how fast, how many teams and reps."""

    duration_s: float | None = None
    rate: float | None = None  # episodes per second; None: the compressed clock's pace
    teams: int = 3
    reps_per_team: int = 5
    slack_port: int = 8765
    seed: int = 7

    @property
    def episodes_per_s(self) -> float:
        """How fast episodes come: a working day of them per ``DEMO_DAY_S`` for every rep."""
        if self.rate is not None:
            return self.rate
        return self.teams * self.reps_per_team * EPISODES_PER_REP_DAY / DEMO_DAY_S


#: A weekly call target that the demo's slower reps fall behind on.
DEMO_TARGETS: Final = {"defaults": {"calls": {"day": 20, "week": 100}}}


def run_demo(options: DemoOptions, say: Callable[[str], None]) -> dict[str, Any]:
    """Run the demo until the duration ends or Ctrl-C; return the summary."""
    base = load_settings()
    workdir = Path(tempfile.mkdtemp(prefix="spm-demo-"))
    with (
        embedded_services(
            workdir, kafka=base.kafka_url is None, redis=base.redis_url is None
        ) as emb,
        contextlib.ExitStack() as children,
    ):
        embedded_kafka = base.kafka_url is None
        gen = Generator(
            options.teams,
            options.reps_per_team,
            seed=options.seed,
            duplicate_rate=0.01,
            invalid_rate=0.005,
        )
        config = workdir / "people.yaml"
        config.write_text(yaml.safe_dump(demo_directory(gen), sort_keys=False), encoding="utf-8")
        targets = workdir / "targets.yaml"
        targets.write_text(yaml.safe_dump(DEMO_TARGETS), encoding="utf-8")
        slack_port = options.slack_port or free_port()
        signing_secret = secrets.token_hex(16)
        settings = load_settings(
            kafka_url=base.kafka_url or emb.kafka_url,
            redis_url=base.redis_url or emb.redis_url,
            slack_base_url=f"http://127.0.0.1:{slack_port}/api/",
            slack_token="xoxb-spm-demo",
            slack_signing_secret=signing_secret,
            home_refresh_s=5,
            config=config,
            targets=targets,
            rules_interval_s=2,
            app_id=f"spm-demo-{os.getpid()}",
            redis_prefix=f"spm-demo-{os.getpid()}",
            web_port=free_port(),
            api_token=secrets.token_hex(16),
            data_dir=workdir / "faust",
            leaderboard_interval_s=3,
            kafka_session_timeout_s=(
                EMBEDDED_SESSION_TIMEOUT_S if embedded_kafka else base.kafka_session_timeout_s
            ),
        )
        child_env = {**os.environ, **settings.as_env()}

        web = f"http://127.0.0.1:{settings.web_port}"
        slack = spawn(
            [sys.executable, "-m", "spm_stream", "slack-server", "--port", str(slack_port),
             "--app-url", web, "--signing-secret", signing_secret, "--people", str(config)],
            workdir / "slack.log",
            env=child_env,
        )  # fmt: skip
        children.callback(stop, slack)
        wait_for_port(slack_port, "local Slack server")
        ensure_topics(settings)
        worker = spawn(
            [sys.executable, "-m", "spm_stream", "worker"], workdir / "worker.log", env=child_env
        )
        children.callback(stop, worker, 30.0)

        page = f"http://127.0.0.1:{slack_port}/"
        assert settings.api_token is not None
        token = settings.api_token.get_secret_value()
        first_team = next(iter(load_directory(config).teams))
        tv = sign_tv_query(tv_key(token), "demo", {"team": first_team, "period": "day"})
        tv_page = f"{web}/tv?{urlencode(tv)}"
        say(f"Kafka: {settings.kafka_url} ({'embedded tansu' if embedded_kafka else 'external'})")
        say(f"Redis: {redact_url(settings.redis_url or '')} · logs in {workdir}")
        say(f"Slack messages appear at {page}  (Ctrl-C stops the demo)")
        say(f"  there: {_open_home(page, web, config)}, and a box to type /spm as anyone")
        say(f"TV page (a screen's signed link): {tv_page}")
        say(f"Worker: {web}/health · read API: curl -H 'Authorization: Bearer {token}' {web}/stats")
        say(
            f"Compressed clock: a working day of activity every {DEMO_DAY_S / 60:g} minutes "
            f"(~{EPISODES_PER_REP_DAY} episodes a rep), alert timers in seconds"
        )

        started = time.monotonic()
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5
        )
        try:
            produced, interrupted = _feed(producer, gen, settings, options, worker)
        finally:
            producer.flush()
            producer.close()
        if interrupted:
            say("stopping…")
        stats = asyncio.run(_drain(settings, produced, worker, wait=not interrupted))
        slack_messages = _slack_messages(page)
        with urllib.request.urlopen(page + "_ephemeral", timeout=5) as response:
            home_views = len(json.load(response)["views"])
        stop(worker, 30.0)
        return {
            "events_produced": produced,
            "events_processed": stats["processed"],
            "events_counted": stats["counted"],
            "duplicates": stats["duplicates"],
            "events_rejected": stats["rejected"],
            "slack_messages": len(slack_messages),
            "slack_edits": sum(m["edits"] for m in slack_messages),
            # Nudges, no-show DMs and manager alerts go to people (U…), boards to channels.
            "slack_direct_messages": sum(1 for m in slack_messages if m["channel"][:1] in "UW"),
            "app_home_views": home_views,
            "worker_exit_code": worker.returncode,
            "elapsed_s": round(time.monotonic() - started, 1),
            "kafka": "embedded" if embedded_kafka else "external",
            "slack_page": page,
            "tv_page": tv_page,
            "worker": web,
        }


def _feed(
    producer: KafkaProducer,
    gen: Generator,
    settings: Settings,
    options: DemoOptions,
    worker: subprocess.Popen[bytes],
) -> tuple[int, bool]:
    """Produce ``options.episodes_per_s`` episodes a second until the duration ends or Ctrl-C.

    Returns how many records were handed to the producer and whether the feed was
    interrupted; the count survives the interrupt, so the summary stays true.
    """
    produced = episodes = 0
    started = time.monotonic()
    try:
        while options.duration_s is None or time.monotonic() - started < options.duration_s:
            if worker.poll() is not None:
                raise RuntimeError(
                    f"the worker exited with code {worker.returncode}; see worker.log"
                )
            for key, value in gen.records(datetime.now(UTC)):
                producer.send(settings.topic, key=key, value=value)
                produced += 1
            # Pace to the target rate without drifting.
            episodes += 1
            ahead = episodes / options.episodes_per_s - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    except KeyboardInterrupt:
        return produced, True
    return produced, False


async def _drain(
    settings: Settings,
    produced: int,
    worker: subprocess.Popen[bytes],
    *,
    wait: bool,
    timeout_s: float = 180.0,
) -> dict[str, int]:
    """Wait until the store has processed every produced event, then refresh the boards."""
    from notifications.boards import sync_board
    from notifications.slack import make_client
    from spm_stream.ranking.boards import all_boards

    store = Store.from_settings(settings)
    try:
        deadline = time.monotonic() + timeout_s
        stats = await store.stats()
        while wait and stats.processed < produced and time.monotonic() < deadline:
            if worker.poll() is not None:
                break
            await asyncio.sleep(0.25)
            stats = await store.stats()
        if wait:
            directory = load_directory(settings.config)
            client = make_client(settings)
            now = datetime.now(UTC)
            channels = {t: team.channel for t, team in directory.teams.items()}
            for spec in all_boards(channels, directory.boards):
                if spec.is_live:
                    await sync_board(store, client, directory, spec, now=now)
        return {
            "processed": stats.processed,
            "counted": stats.counted,
            "duplicates": stats.duplicates,
            "rejected": stats.rejected,
        }
    finally:
        await store.close()


def _open_home(page: str, web: str, config: Path) -> str:
    """Open the first rep's App Home once the worker serves (as Slack does on a click)."""
    directory = load_directory(config)
    rep = directory.reps()[0]
    slack_id = directory.people[rep].slack_id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{web}/health", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # 503 while degraded: serving all the same
        except OSError:
            time.sleep(0.5)
    request = urllib.request.Request(
        page + "_event",
        data=json.dumps({"user": slack_id}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as exc:
        return f"App Home could not be opened ({exc})"
    return f"the App Home of {directory.display_name(rep)}"


def _slack_messages(page: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(page + "_messages", timeout=5) as response:
        messages: list[dict[str, Any]] = json.load(response)["messages"]
    return messages


def install_stop_signals() -> None:
    """Make Ctrl-C and SIGTERM stop the demo cleanly, so its children are cleaned up too.

    SIGINT is set explicitly: a demo started in the background by a script
    inherits SIGINT as ignored, and Python would then never raise KeyboardInterrupt.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
