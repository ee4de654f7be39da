"""The generator is seeded, valid and follows the outbound funnel roughly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from spm_stream.directory import Directory
from spm_stream.events import InvalidEvent, parse_event
from spm_stream.generator import Generator, demo_directory

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
