"""The store as the rules engine and the live queries see it: one port, two implementations.

``redis_store.Store`` is the production one (Redis, the atomic Lua apply);
``memory.MemoryStore`` holds the same state in dicts for unit tests of rules and
queries. Writes of counters happen only through the Lua apply, so the port has
the reads of counters and the small state the rules keep (watches, markers,
badges, rankings).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from spm_stream.ranking.contests import Contest
from spm_stream.rules.noshow import Watch

__all__ = ["StorePort"]


class StorePort(Protocol):
    """What the rules engine and the live queries read and keep."""

    async def accumulate(
        self, scope: str, scope_id: str, buckets: Sequence[str]
    ) -> Counter[str]: ...

    async def rep_days(
        self, scope: str, scope_id: str, buckets: Sequence[str]
    ) -> dict[str, list[tuple[str, Counter[str]]]]: ...

    async def rep_history(
        self, rep: str, buckets: Sequence[str]
    ) -> list[tuple[str, Counter[str]]]: ...

    async def ramp_facts(self) -> tuple[dict[str, int], dict[str, int]]: ...

    async def members(self, team: str) -> set[str]: ...

    async def due_watches(self, now: float, limit: int = 100) -> list[tuple[int, str]]: ...

    async def open_watches(self) -> list[tuple[int, str]]: ...

    async def advance_watches(self, moves: Sequence[tuple[int, str, Watch | None]]) -> int: ...

    async def badges(self, rep_ids: Sequence[str]) -> dict[str, dict[str, str]]: ...

    async def award(self, awards: Sequence[tuple[str, str, str]]) -> None: ...

    async def contests(self) -> list[Contest]: ...

    async def ranking(self, board_id: str) -> list[str] | None: ...

    async def set_ranking(self, board_id: str, reps: Sequence[str]) -> None: ...

    async def due(self, what: str, now: float, every_s: float) -> bool: ...

    async def was_raised(self, identity: str) -> bool: ...

    async def mark_raised(self, identities: Iterable[str], ttl_s: int = ...) -> None: ...

    async def pace_firing(self) -> set[str]: ...

    async def set_pace_firing(self, started: Iterable[str], stopped: Iterable[str]) -> None: ...
