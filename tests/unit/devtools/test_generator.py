"""The generator is seeded, valid and follows the outbound funnel roughly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from spm_stream.config.directory import Directory
from spm_stream.contract.events import InvalidEvent, parse_event
from spm_stream.devtools.generator import Generator, demo_directory

AT = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _take(gen: Generator, n: int) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    while len(out) < n:
        out.extend(gen.records(AT))
    return out


def test_same_seed_same_stream() -> None:
    assert _take(Generator(seed=3), 500) == _take(Generator(seed=3), 500)


def test_clean_stream_is_all_valid_and_keyed_by_rep() -> None:
    for key, value in _take(Generator(seed=1), 3000):
        event = parse_event(value)
        assert key == event.rep_id.encode()


def test_funnel_rates_are_plausible() -> None:
    types = Counter(parse_event(v).type.value for _, v in _take(Generator(seed=2), 20_000))
    outbound = types["activity.call"] + types["activity.email"] + types["activity.social"]
    reach = types["conversation.meaningful"] / outbound
    assert 0.25 < reach < 0.55
    assert types["lead.qualified"] < types["conversation.meaningful"]
    assert types["deal.won"] > 0


def test_duplicates_and_rejects_are_mixed_in_when_asked() -> None:
    records = _take(Generator(seed=4, duplicate_rate=0.05, invalid_rate=0.05), 5000)
    ids = Counter()
    invalid = 0
    for _, value in records:
        try:
            ids[parse_event(value).event_id] += 1
        except InvalidEvent:
            invalid += 1
    assert invalid > 0
    assert any(count > 1 for count in ids.values())


def test_demo_directory_is_a_valid_config() -> None:
    directory = Directory.model_validate(demo_directory(Generator(teams=2, reps_per_team=3)))
    assert len(directory.teams) == 2
    assert len(directory.reps()) == 6
    assert directory.managers() == ["mgr-team-1", "mgr-team-2"]
    assert all(team.channel for team in directory.teams.values())
    assert all(directory.manager_of(rep) for rep in directory.reps())


def _simulated(seed: int = 5, days: int = 28) -> list[Any]:
    gen = Generator(teams=2, reps_per_team=4, seed=seed)
    return [
        parse_event(v) for _, v in gen.simulate(date(2026, 11, 2), days, ZoneInfo("Europe/Berlin"))
    ]


def test_simulation_is_in_time_order_on_weekdays_and_seeded() -> None:
    events = _simulated()
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    berlin = ZoneInfo("Europe/Berlin")
    assert {t.astimezone(berlin).weekday() for t in times} <= {0, 1, 2, 3, 4}
    assert [e.event_id for e in events] == [e.event_id for e in _simulated()]
    assert times[-1] < datetime(2026, 11, 30, tzinfo=berlin)  # nothing after the horizon


def test_simulation_follows_the_funnel_of_the_sources() -> None:
    types = Counter(e.type.value for e in _simulated(days=40))
    outbound = types["activity.call"] + types["activity.email"] + types["activity.social"]
    assert 0.33 < types["conversation.meaningful"] / outbound < 0.47  # reach ≈ 40 % (001)
    assert 0.08 < types["lead.qualified"] / types["conversation.meaningful"] < 0.15  # ≈ 11 %
    assert 0.6 < types["lead.in_forecast"] / types["lead.qualified"] < 0.85  # pipe ≈ 73 %
    assert types["meeting.no_show"] > types["meeting.rescheduled"] > 0
    assert types["deal.won"] > 0
    assert types["deal.lost"] > 0


def test_simulated_deals_close_weeks_after_they_open() -> None:
    events = _simulated(days=60)
    opened = {
        e.data.deal_id: e.occurred_at for e in events if e.type.value == "opportunity.created"
    }  # type: ignore[attr-defined]
    cycles = [
        (e.occurred_at - opened[e.data.deal_id]).days  # type: ignore[attr-defined]
        for e in events
        if e.type.value in ("deal.won", "deal.lost")
    ]
    assert cycles
    assert all(1 <= c <= 60 for c in cycles)
    assert 12 < sum(cycles) / len(cycles) < 30  # ≈ 23 days (004), cut by the horizon
