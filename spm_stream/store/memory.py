"""The store port in dicts, for unit tests of the rules engine and the live queries.

It keeps what ``redis_store.Store`` keeps, without expiry and in one shard
(partition 0). Tests fill it as the counters agent would have: ``count`` for a
rep's day (the rep's team and the org get the same) and ``put_watch``.
The counting itself (dedupe, watermarks, outcomes) is the Lua apply's and is
tested against a real Redis only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from spm_stream.config.scopes import ORG
from spm_stream.ranking.contests import Contest
from spm_stream.rules.noshow import Watch

__all__ = ["MemoryStore"]


class MemoryStore:
    """``StorePort`` over dicts; see the module docstring for how tests fill it."""

    def __init__(self) -> None:
        self.counts: defaultdict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
        self.team_members: defaultdict[str, set[str]] = defaultdict(set)
        self.reps: set[str] = set()
        self.hired: dict[str, int] = {}
        self.first_win: dict[str, int] = {}
        self.watches: dict[str, str] = {}  # meeting id -> raw JSON, as Redis holds it
        self.watch_due: dict[str, float] = {}
        self.awarded: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self.contest_list: dict[str, Contest] = {}
        self.rankings: dict[str, list[str]] = {}
        self.checked: dict[str, float] = {}
        self.raised: set[str] = set()
        self.firing: set[str] = set()

    # What the counters agent would have written.

    def count(self, rep: str, day: str, fields: Mapping[str, int], team: str | None = None) -> None:
        """Add to a rep's day accumulator ("day:YYYY-MM-DD"), its team's and the org's."""
        scopes = [("rep", rep), ("org", ORG)] + ([("team", team)] if team else [])
        for kind, scope_id in scopes:
            self.counts[(kind, scope_id, day)].update(fields)
        self.reps.add(rep)
        if team:
            self.team_members[team].add(rep)

    def put_watch(self, watch: Watch) -> None:
        """Store a meeting's watch as the Lua apply does after its write."""
        self.watches[watch.meeting_id] = watch.dumps()
        if watch.due is not None:
            self.watch_due[watch.meeting_id] = watch.due.timestamp()
        else:
            self.watch_due.pop(watch.meeting_id, None)

    # The port.

    async def accumulate(self, scope: str, scope_id: str, buckets: Sequence[str]) -> Counter[str]:
        total: Counter[str] = Counter()
        for bucket in buckets:
            total.update(self.counts.get((scope, scope_id, bucket), Counter()))
        return total

    async def rep_days(
        self, scope: str, scope_id: str, buckets: Sequence[str]
    ) -> dict[str, list[tuple[str, Counter[str]]]]:
        reps = self.team_members.get(scope_id, set()) if scope == "team" else self.reps
        return {
            rep: [(b, Counter(self.counts.get(("rep", rep, b), Counter()))) for b in buckets]
            for rep in sorted(reps)
        }

    async def rep_history(self, rep: str, buckets: Sequence[str]) -> list[tuple[str, Counter[str]]]:
        return [(b, Counter(self.counts.get(("rep", rep, b), Counter()))) for b in buckets]

    async def ramp_facts(self) -> tuple[dict[str, int], dict[str, int]]:
        return dict(self.hired), dict(self.first_win)

    async def members(self, team: str) -> set[str]:
        return set(self.team_members.get(team, set()))

    async def due_watches(self, now: float, limit: int = 100) -> list[tuple[int, str]]:
        due = sorted((at, m) for m, at in self.watch_due.items() if at <= now)[:limit]
        return [(0, self.watches[m]) for _, m in due]

    async def open_watches(self) -> list[tuple[int, str]]:
        return [(0, self.watches[m]) for m in sorted(self.watch_due)]

    async def advance_watches(self, moves: Sequence[tuple[int, str, Watch | None]]) -> int:
        moved = 0
        for _, read, new in moves:
            meeting = Watch.loads(read).meeting_id
            if self.watches.get(meeting) != read:
                continue  # changed since it was read: the event wins
            moved += 1
            if new is None:
                self.watch_due.pop(meeting, None)
                continue
            self.put_watch(new)
        return moved

    async def badges(self, rep_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        return {rep: dict(self.awarded.get(rep, {})) for rep in rep_ids}

    async def award(self, awards: Sequence[tuple[str, str, str]]) -> None:
        for rep, badge, day in awards:
            self.awarded[rep].setdefault(badge, day)

    async def add_contest(self, contest: Contest) -> bool:
        """Store a new contest; False when one with that id exists."""
        if contest.id in self.contest_list:
            return False
        self.contest_list[contest.id] = contest
        return True

    async def contests(self) -> list[Contest]:
        return sorted(self.contest_list.values(), key=lambda c: c.start)

    async def ranking(self, board_id: str) -> list[str] | None:
        found = self.rankings.get(board_id)
        return None if found is None else list(found)

    async def set_ranking(self, board_id: str, reps: Sequence[str]) -> None:
        self.rankings[board_id] = list(reps)

    async def due(self, what: str, now: float, every_s: float) -> bool:
        last = self.checked.get(what)
        if last is not None and now - last < every_s:
            return False
        self.checked[what] = now
        return True

    async def was_raised(self, identity: str) -> bool:
        return identity in self.raised

    async def mark_raised(self, identities: Iterable[str], ttl_s: int = 2 * 86_400) -> None:
        self.raised.update(identities)

    async def pace_firing(self) -> set[str]:
        return set(self.firing)

    async def set_pace_firing(self, started: Iterable[str], stopped: Iterable[str]) -> None:
        self.firing = (self.firing | set(started)) - set(stopped)


if TYPE_CHECKING:  # both implementations satisfy the port (checked by mypy --strict)
    from spm_stream.store.port import StorePort

    _MEMORY: StorePort = MemoryStore()
