"""The rules engine on the in-memory store: the same ticks as in production, no services."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from spm_stream.config.directory import Directory
from spm_stream.config.targets import ReloadingTargets
from spm_stream.contract.events import parse_event
from spm_stream.rules.alerts import Alert
from spm_stream.rules.engine import RulesEngine
from spm_stream.rules.noshow import Watch, transition
from spm_stream.store.memory import MemoryStore
from tests.events import event

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def directory(**alerts: Any) -> Directory:
    quiet: dict[str, Any] = {
        "nudge": {"enabled": False},
        "digest": {"enabled": False},
        "behind_target": {"enabled": False},
        "notify": {"group_wait": "0s", "quiet_hours": None},
    }
    for key, value in alerts.items():
        quiet[key] = {**quiet.get(key, {}), **value}
    return Directory.model_validate(
        {
            "timezone": "Europe/Berlin",
            "teams": {"t1": {"name": "Team One", "manager": "mgr-1"}},
            "people": {
                "mgr-1": {"name": "Mia", "slack_id": "U0M"},
                "rep-1": {"name": "Ana", "slack_id": "U0A", "team": "t1"},
                "rep-2": {"name": "Ben", "slack_id": "U0B", "team": "t1"},
            },
            "alerts": quiet,
            "gamification": {"enabled": False},
        }
    )


class Engine:
    """A rules engine on a MemoryStore, collecting what it publishes."""

    def __init__(self, people: Directory, tmp_path: Path, targets: dict[str, Any]) -> None:
        path = tmp_path / "targets.yaml"
        path.write_text(yaml.safe_dump(targets), encoding="utf-8")
        self.store = MemoryStore()
        self.published: list[Alert] = []
        self.engine = RulesEngine(self.store, people, ReloadingTargets(path), self.publish)

    async def publish(self, alerts: Any) -> None:
        self.published.extend(alerts)

    async def tick(self, now: datetime) -> list[tuple[str, str]]:
        return [(a.rule, a.subject) for a in await self.engine.tick(now)]


def no_show(meeting: str, at: datetime, people: Directory) -> Watch:
    raw = event(f"ns-{meeting}", "meeting.no_show", at=at.isoformat(), meeting_id=meeting)
    watch = transition(parse_event(raw), people.alerts.no_show, people.calendar_of)
    assert watch is not None
    return watch


async def test_a_no_show_escalates_on_working_time_and_a_new_engine_carries_on(
    tmp_path: Path,
) -> None:
    people = directory()
    rules = Engine(people, tmp_path, {})
    # Friday 15:00 Berlin: 2 working hours left, 2 more on Monday -> the DM at Monday 11:00.
    friday = berlin("2026-11-27T15:00:00")
    rules.store.put_watch(no_show("m-1", friday, people))
    assert await rules.tick(berlin("2026-11-30T10:59:00")) == []
    assert await rules.tick(berlin("2026-11-30T11:00:00")) == [("no_show.rep", "rep-1")]
    # A restart, or a new leader: a fresh engine reads the same watch from the store.
    rules.engine = RulesEngine(rules.store, people, rules.engine.targets, rules.publish)
    assert await rules.tick(berlin("2026-11-30T14:59:00")) == []
    assert await rules.tick(berlin("2026-11-30T15:00:00")) == [("no_show.manager", "rep-1")]
    assert [a.recipient.id for a in rules.published] == ["rep-1", "mgr-1"]
    assert await rules.tick(berlin("2026-12-03T12:00:00")) == []
    # Escalated: looked at once more when it expires, then no longer watched.
    expires = friday + people.alerts.no_show.expire_after
    assert rules.store.watch_due == {"m-1": expires.timestamp()}
    assert await rules.tick(expires) == []
    assert rules.store.watch_due == {}


async def test_a_watch_the_counters_agent_changed_meanwhile_is_left_to_the_event(
    tmp_path: Path,
) -> None:
    people = directory()
    rules = Engine(people, tmp_path, {})
    opened = no_show("m-1", berlin("2026-11-30T09:00:00"), people)
    rules.store.put_watch(opened)
    read = opened.dumps()
    held = Watch("m-1", "rep-1", "closed", berlin("2026-11-30T12:00:00"), closed_by="held")
    rules.store.put_watch(held)  # the rep marked it held before the rules moved it
    assert await rules.store.advance_watches([(0, read, None)]) == 0
    assert Watch.loads(rules.store.watches["m-1"]).closed_by == "held"


async def test_behind_target_fires_once_and_resolves_when_the_rep_catches_up(
    tmp_path: Path,
) -> None:
    people = directory(behind_target={"enabled": True, "metrics": ["calls"], "every": "0s"})
    rules = Engine(people, tmp_path, {"defaults": {"calls": {"week": 40}}})
    rules.store.count("rep-1", "day:2026-11-23", {"activity.call": 30}, team="t1")
    rules.store.count("rep-2", "day:2026-11-23", {"activity.call": 2}, team="t1")
    # Tuesday 09:00: 8 of 40 working hours gone, 8 calls expected. Ben (2) is behind.
    tuesday = berlin("2026-11-24T09:00:00")
    assert await rules.tick(tuesday) == [("behind_target", "rep-2")]
    assert await rules.tick(berlin("2026-11-24T10:00:00")) == []  # still firing: not again
    rules.store.count("rep-2", "day:2026-11-24", {"activity.call": 20}, team="t1")
    assert await rules.tick(berlin("2026-11-24T11:00:00")) == [("behind_target.resolved", "rep-2")]
    assert rules.store.firing == set()


@pytest.mark.parametrize("restart", [False, True])
async def test_the_morning_nudge_is_raised_once_a_day(tmp_path: Path, restart: bool) -> None:
    people = directory(nudge={"enabled": True, "at": "09:00"})
    rules = Engine(people, tmp_path, {"defaults": {"calls": {"week": 40}}})
    rules.store.count("rep-1", "day:2026-11-23", {"activity.call": 12}, team="t1")
    assert await rules.tick(berlin("2026-11-24T08:59:00")) == []
    first = await rules.tick(berlin("2026-11-24T09:00:00"))
    assert sorted(first) == [("nudge", "rep-1"), ("nudge", "rep-2")]
    ana = next(a for a in rules.published if a.subject == "rep-1")
    assert ana.data["yesterday"]["calls"] == 12
    if restart:
        rules.engine = RulesEngine(rules.store, people, rules.engine.targets, rules.publish)
    assert await rules.tick(berlin("2026-11-24T15:00:00")) == []
    assert sorted(await rules.tick(berlin("2026-11-25T09:00:00"))) == first
