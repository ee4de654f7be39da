"""A pytest plugin: one deployment's shell (store, rules engine, notifier) on a test clock.

Events go through the production path (ingest → the store's Lua apply, which
writes the no-show watches); the rules engine and the notifier are driven with
an explicit ``now``, so escalation timings, quiet hours and retries are checked
to the minute without waiting for them. ``make_stack`` builds one per config.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from notifications.notifier import Notifier
from notifications.slack import make_client
from notifications.state import NotifyState
from spm_stream.config.directory import Directory
from spm_stream.config.scopes import Routing
from spm_stream.config.settings import Settings
from spm_stream.config.targets import ReloadingTargets
from spm_stream.counting.ingest import Record, ingest
from spm_stream.rules.alerts import Alert
from spm_stream.rules.engine import RulesEngine
from spm_stream.rules.evaluate import event_alerts
from spm_stream.rules.noshow import transition
from spm_stream.store.redis_store import Store
from tests.fixtures import SlackFixture, accept

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def people(tag: str, **alerts: Any) -> dict[str, Any]:
    """Two reps and their manager, with Slack ids unique to this test."""
    uid = tag.upper()
    return {
        "timezone": "Europe/Berlin",
        "teams": {"t1": {"name": "Team One", "manager": "mgr-1"}},
        "people": {
            "mgr-1": {"name": "Mia", "slack_id": f"U{uid}M"},
            "rep-1": {"name": "Ana", "slack_id": f"U{uid}A", "team": "t1", "locale": "de"},
            "rep-2": {"name": "Ben", "slack_id": f"U{uid}B", "team": "t1"},
            "rep-3": {"name": "Noid", "team": "t1"},  # no Slack id
        },
        "alerts": alerts,
        "gamification": {"enabled": False},  # badge tests turn it on
    }


@dataclass
class Stack:
    """The shell of one deployment (store, rules engine, notifier) on a test clock."""

    store: Store
    directory: Directory
    notifier: Notifier
    engine: RulesEngine
    slack: SlackFixture
    raised: list[Alert] = field(default_factory=list)
    offset: int = 0

    async def events(self, *raw: bytes, now: datetime) -> None:
        """Apply events as the counters agent does, and accept the alerts they raise."""
        records = []
        for value in raw:
            records.append(Record("t", 0, self.offset, b"k", value))
            self.offset += 1
        rules = self.directory.alerts
        result = ingest(
            records,
            keys=self.store.keys,
            routing=Routing.from_directory(self.directory),
            watch=lambda e: transition(e, rules.no_show, self.directory.calendar_of),
            alerts=lambda e: event_alerts(e, rules, self.directory.manager_of),
        )
        await self.store.apply(result.batches)
        for alert in result.alerts:
            await accept(self.notifier, alert, now)

    async def tick(self, now: datetime) -> list[Alert]:
        """One rules tick and one delivery round at ``now``."""
        self.raised.clear()
        await self.engine.tick(now)
        for alert in self.raised:
            await accept(self.notifier, alert, now)
        await self.notifier.deliver_due(now)
        return list(self.raised)

    def messages(self, person: str) -> list[Any]:
        """Messages Slack received for a person (by their Slack id), oldest first."""
        slack_id = self.directory.people[person].slack_id
        found = [m for m in self.slack.state.messages.values() if m.channel == slack_id]
        return sorted(found, key=lambda m: m.ts)

    def texts(self, person: str) -> list[str]:
        return [m.text for m in self.messages(person)]


@pytest.fixture
async def make_stack(settings: Settings, slack: SlackFixture, tmp_path: Path) -> AsyncIterator[Any]:
    stores: list[Store] = []

    async def build(config: dict[str, Any], targets: dict[str, Any] | None = None) -> Stack:
        tag = uuid.uuid4().hex[:8]
        directory = Directory.model_validate(config)
        path = tmp_path / f"targets-{tag}.yaml"
        path.write_text(yaml.safe_dump(targets or {}), encoding="utf-8")
        store = Store.from_settings(settings)
        stores.append(store)
        state = NotifyState.on(store.redis, settings.redis_prefix)
        notifier = Notifier(state, make_client(settings, outbox=True, timeout=1), directory)
        stack = Stack(store, directory, notifier, None, slack)  # type: ignore[arg-type]

        async def publish(alerts: Any) -> None:
            stack.raised.extend(alerts)

        stack.engine = RulesEngine(store, directory, ReloadingTargets(path), publish)
        notifier.refresh = stack.engine.current  # as agents.notifier wires it
        return stack

    yield build
    for store in stores:
        await store.close()


def quiet(**extra: Any) -> dict[str, Any]:
    """Alert settings for tests about one rule: the others off, no grouping delay."""
    base: dict[str, Any] = {
        "nudge": {"enabled": False},
        "digest": {"enabled": False},
        "behind_target": {"enabled": False},
        "notify": {"group_wait": "0s", "quiet_hours": None},
    }
    for key, value in extra.items():
        base[key] = {**base.get(key, {}), **value}
    return base
