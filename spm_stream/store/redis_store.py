"""The Redis store: applies planned batches exactly once and answers queries.

Writes go through one Lua script per partition batch (``apply_batch.lua``), all
partitions of a consumed batch in one pipelined round trip. Reads merge the
per-partition shards (see ``spm_stream.store.keys``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from operator import itemgetter
from typing import Any, Final, TypeVar

import msgspec
import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, NoScriptError, RedisError, TimeoutError

from spm_stream.config.settings import Settings
from spm_stream.counting.planning import Op, Planned, plan_reject
from spm_stream.ranking.contests import Contest
from spm_stream.rules.noshow import Watch
from spm_stream.store.keys import Keys

__all__ = [
    "ApplyResult",
    "Stats",
    "Store",
    "Ttls",
    "encode_batch",
    "until_redis_answers",
]

log = logging.getLogger("spm_stream.store.redis_store")

# The worker's stream shares the event loop with the leader's rules, and a pipeline
# is built and parsed without yielding: one of 40 reps x 90 days held the stream for
# 0.1-0.3 s. Many-key reads and writes go in round trips of at most this many commands.
_COMMANDS_PER_ROUND_TRIP: Final = 100

_T = TypeVar("_T")


def _round_trips(items: Sequence[_T], commands_each: int = 1) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``_COMMANDS_PER_ROUND_TRIP`` commands."""
    step = max(1, _COMMANDS_PER_ROUND_TRIP // max(1, commands_each))
    for start in range(0, len(items), step):
        yield items[start : start + step]


_MAX_BACKOFF_S: Final = 5.0


async def until_redis_answers(call: Callable[[], Awaitable[_T]], failed: str) -> tuple[_T, int]:
    """``call()`` until Redis answers, backing off 0.1 s → 5 s; its result and the retries.

    For writes a stream must not skip (a batch's apply, the notifier's outbox): acking
    without them would lose the effect, so the stream waits for Redis instead.
    """
    delay, retries = 0.1, 0
    while True:
        try:
            return await call(), retries
        except (RedisError, OSError) as exc:
            retries += 1
            log.error("%s, retrying in %.1fs: %r", failed, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)


_LUA: Final = files("spm_stream.store").joinpath("apply_batch.lua").read_text(encoding="utf-8")

_ADVANCE_WATCH: Final = (
    files("spm_stream.store").joinpath("advance_watch.lua").read_text(encoding="utf-8")
)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply did: new events counted, duplicates, rejects, replayed offsets skipped."""

    counted: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0
    #: (partition, offset, reason) of events refused because a counter would overflow;
    #: they were applied as rejects, and belong in the dead-letter topic.
    overflowed: tuple[tuple[int, int, str], ...] = ()

    def __add__(self, other: ApplyResult) -> ApplyResult:
        return ApplyResult(
            self.counted + other.counted,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
            self.skipped + other.skipped,
            self.overflowed + other.overflowed,
        )


@dataclass(frozen=True, slots=True)
class Stats:
    """Totals over all partitions since the state was created."""

    counted: int
    duplicates: int
    rejected: int

    @property
    def processed(self) -> int:
        """Every record the pipeline has handled, whatever became of it."""
        return self.counted + self.duplicates + self.rejected


@dataclass(frozen=True, slots=True)
class Ttls:
    """How long each class of key lives: counters and boards, and the dedupe sets.

    Ramp facts and team membership never expire: they are one entry per rep.
    """

    counters_s: int
    dedupe_s: int
    watch_s: int = 30 * 86_400


def encode_batch(
    keys: Keys, partition: int, planned: Sequence[Planned], ttls: Ttls
) -> tuple[list[str], bytes]:
    """Encode a partition's plans as the Lua script's KEYS and MessagePack argument.

    Events that share a plan (``plan_event``'s memo) share its encoding: an event
    carries the index of its plan, and the script multiplies a plan's increments by
    the number of its events that count, so the script's work grows with the batch's
    distinct plans, not with its events. The events go as columns (offsets, ids,
    plans) and their seen sets as runs, which the script decodes about four times
    faster than a small array per event. (The ids stay in the argument: as arguments of
    their own they cost the script less, but redis-py encodes each argument in Python,
    which costs the worker more; BENCHMARKS.md.)
    """
    key_index: dict[str, int] = {keys.watermark(partition): 1, keys.stats(partition): 2}
    key_list = [keys.watermark(partition), keys.stats(partition)]
    op_index: dict[Op, int] = {}
    op_list: list[tuple[str, int, str]] = []

    def key_at(key: str) -> int:
        index = key_index.get(key)
        if index is None:
            key_list.append(key)
            index = key_index[key] = len(key_list)
        return index

    expire: dict[int, int] = {}
    offsets: list[int] = []
    ids: list[str] = []
    plan_of: list[int] = []
    # [seen key index (0: rejects), first, last position]: stretches of events whose ids
    # go in one seen set. Most of a batch is one UTC day, so one run.
    runs: list[list[int]] = []
    run: list[int] = [-1, 0, 0]
    watches: list[tuple[int, list[Any]]] = []
    outcomes: list[tuple[int, list[Any]]] = []
    # By identity: every memoised plan's ops tuple stays alive in ``planned`` meanwhile.
    plan_index: dict[int, int] = {}
    plans: list[list[int]] = []
    seen_at: dict[str, int] = {}  # seen set -> its key index (most events share a few)
    # Bound once: the loop below runs per event.
    add_offset, add_id, add_plan = offsets.append, ids.append, plan_of.append
    plan_at, seen_index = plan_index.get, seen_at.get
    watch_keys: tuple[str, int, int] | None = None
    for position, plan in enumerate(sorted(planned, key=_offset), 1):
        # Unpacked once: a NamedTuple's attribute is a descriptor call per read.
        offset, event_id, seen_key, ops, watch, outcome = plan
        add_offset(offset)
        if event_id is None or seen_key is None:
            add_id("")
            add_plan(0)
            seen = 0
        else:
            index = plan_at(id(ops))
            if index is None:
                incs: list[int] = []
                for op, amount in ops:
                    at = op_index.get(op)
                    if at is None:
                        key = key_at(op.key)
                        op_list.append((op.kind, key, op.field))
                        at = op_index[op] = len(op_list)
                        if op.kind == "hincr":
                            expire[key] = ttls.counters_s
                    incs += (at, amount)
                plans.append(incs)
                index = plan_index[id(ops)] = len(plans)
            known = seen_index(seen_key)
            if known is None:
                known = seen_at[seen_key] = key_at(seen_key)
                expire[known] = ttls.dedupe_s
            seen = known
            add_id(event_id)
            add_plan(index)
        if seen == run[0]:
            run[2] = position
        else:
            run = [seen, position, position]
            runs.append(run)
        if seen == 0:
            continue
        if outcome is not None:
            o = outcome
            record = key_at(keys.outcome(partition, o.meeting_id))
            fields = [
                [key_at(op.key), op.field]
                for op, _ in ops
                if op.kind == "hincr" and op.field == o.type
            ]
            outcomes.append((position, [record, o.rank, o.type, fields, o.at_ms, o.event_id]))
        if watch is not None:
            if watch_keys is None:  # the partition's, once per batch
                leads = key_at(keys.watch_leads(partition))
                expire[leads] = ttls.watch_s
                watch_keys = (keys.watch(partition, ""), key_at(keys.watch_due(partition)), leads)
            watches.append((position, _encode_watch(watch, key_at, *watch_keys)))
    # How many events use each plan, for a batch the script takes whole (see its "whole"):
    # all but the rejects (plan 0), and but the outcomes, which it judges one by one.
    uses = Counter(plan_of)
    rejects = uses.pop(0, 0)
    for position, _ in outcomes:
        uses[plan_of[position - 1]] -= 1
    payload = {
        "ops": op_list,
        "plans": plans,
        "uses": [[plan, n] for plan, n in uses.items() if n > 0],
        # No id twice (a reject's is "", and not checked): the script still asks Redis
        # whether it has seen any of them before.
        "unique": len(set(ids)) - (rejects > 0) == len(ids) - rejects,
        "offsets": offsets,
        "ids": ids,
        "plan": plan_of,
        "runs": runs,
        "watches": watches,
        "outcomes": outcomes,
        "expire": sorted(expire.items()),
        "watch_ttl": ttls.watch_s,
        "outcome_ttl": ttls.counters_s,  # as long as the counters it may take back
        "shard": keys.shard(partition),  # outcome records keep keys relative to it
    }
    return key_list, _MSGPACK.encode(payload)


def _encode_watch(
    w: Watch, key_at: Callable[[str], int], prefix: str, due: int, leads: int
) -> list[Any]:
    """A meeting's new watch state as ``put_watch`` in apply_batch.lua reads it. ``prefix``
    is the partition's ``Keys.watch`` of an empty meeting id: a meeting's key is the prefix
    and its id (the script names an earlier meeting's key the same way)."""
    return [
        key_at(prefix + w.meeting_id),
        w.at_ms,
        w.dumps(),
        due,
        w.due.timestamp() if w.due is not None else -1,
        w.meeting_id,
        leads,
        w.lead_id or "",
        prefix,
    ]


#: The script's argument: MessagePack, which its Lua decodes a third faster than JSON.
_MSGPACK: Final = msgspec.msgpack.Encoder()

_offset: Final = itemgetter(0)  # of a Planned: sorting by it costs no Python call per event


class Store:
    """Async access to spm-stream's state in Redis."""

    def __init__(self, redis: Redis, keys: Keys, ttls: Ttls) -> None:
        self.redis = redis
        self.keys = keys
        self.ttls = ttls
        self._apply = redis.register_script(_LUA)
        self._advance_watch = redis.register_script(_ADVANCE_WATCH)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """A store on a new connection pool, laid out and expiring as the settings say."""
        keys = Keys(settings.redis_prefix, settings.topic, settings.partitions)
        ttls = Ttls(settings.retention_days * 86_400, settings.dedupe_days * 86_400)
        # A restarted Redis leaves dead connections in the pool: retry on a fresh one. Safe for
        # the Lua apply too, which the partition watermark makes idempotent.
        retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5)
        client = Redis.from_url(
            settings.require_redis(),
            decode_responses=True,
            retry=retry,
            retry_on_error=[ConnectionError, TimeoutError],
        )
        return cls(client, keys, ttls)

    async def close(self) -> None:
        """Release the connection pool."""
        await self.redis.aclose()

    async def apply(self, batches: Mapping[int, Sequence[Planned]]) -> ApplyResult:
        """Apply each partition's plans atomically, all in one round trip; safe to replay.

        A partition whose batch would overflow a counter is refused whole by the script;
        the events feeding that counter are then applied as rejects (``overflowed`` says
        which, for the dead-letter topic) and the rest of its batch again.
        """
        pending = {p: planned for p, planned in batches.items() if planned}
        total = ApplyResult()
        while pending:
            calls = [
                encode_batch(self.keys, p, planned, self.ttls) for p, planned in pending.items()
            ]
            try:
                replies = await self._evalsha_apply(calls)
            except NoScriptError:
                # Redis forgot the script (a restart, SCRIPT FLUSH): load it and run the
                # batch again; partitions that did apply skip it by their watermark.
                await self.redis.script_load(_LUA)  # the same SHA1 the Script object computed
                replies = await self._evalsha_apply(calls)
            refused: dict[int, Sequence[Planned]] = {}
            for (partition, planned), reply in zip(pending.items(), replies, strict=True):
                if reply[0] != "overflow":
                    counted, dup, rej, skipped = reply
                    total += ApplyResult(int(counted), int(dup), int(rej), int(skipped))
                    continue
                key, field, *feeding = reply[1:]
                offsets = {int(offset) for offset in feeding}
                reason = (
                    f"would take counter {field!r} of {key} past the store's limit of 2**62 "
                    "units: an amount this large is a unit mistake"
                )
                log.error("partition %d: %s (offsets %s)", partition, reason, sorted(offsets))
                total += ApplyResult(
                    overflowed=tuple((partition, o, reason) for o in sorted(offsets))
                )
                refused[partition] = [
                    plan_reject(plan.offset) if plan.offset in offsets else plan for plan in planned
                ]
            pending = refused
        return total

    async def _evalsha_apply(self, calls: Sequence[tuple[list[str], bytes]]) -> list[Any]:
        # EVALSHA in a plain pipeline, not redis-py's Script on one: that asks
        # SCRIPT EXISTS before every batch, one more round trip each time.
        pipe = self.redis.pipeline(transaction=False)
        for key_list, payload in calls:
            pipe.evalsha(self._apply.sha, len(key_list), *key_list, payload)
        return await pipe.execute()

    async def watermark(self, partition: int) -> int:
        """The last offset applied from a partition (-1 if none)."""
        value = await self.redis.get(self.keys.watermark(partition))
        return int(value) if value is not None else -1

    async def stats(self) -> Stats:
        """Totals over every partition."""
        totals = await self._sum_hashes(self.keys.stats(p) for p in self.keys.shards())
        return Stats(totals["counted"], totals["duplicates"], totals["rejected"])

    async def counts(self, scope: str, scope_id: str, period: str) -> dict[str, int]:
        """Event counts by type for a rep|team|org in one day bucket, merged over shards."""
        return dict(sorted((await self.accumulate(scope, scope_id, [period])).items()))

    async def accumulate(self, scope: str, scope_id: str, buckets: Sequence[str]) -> Counter[str]:
        """The sum of a scope's day accumulators over the given days, merged over shards."""
        return await self._sum_hashes(
            self.keys.counts(partition, scope, scope_id, bucket)
            for bucket in buckets
            for partition in self.keys.shards()
        )

    async def rep_history(self, rep: str, buckets: Sequence[str]) -> list[tuple[str, Counter[str]]]:
        """One rep's day accumulators over ``buckets``, in order, in one round trip (the rep's
        shard is not known here, so every shard is asked: shards x days reads)."""
        pipe = self.redis.pipeline(transaction=False)
        for bucket in buckets:
            for partition in self.keys.shards():
                pipe.hgetall(self.keys.counts(partition, "rep", rep, bucket))
        found = iter(await pipe.execute() if buckets else [])
        out: list[tuple[str, Counter[str]]] = []
        for bucket in buckets:
            total: Counter[str] = Counter()
            for _ in self.keys.shards():
                total.update({name: int(value) for name, value in next(found).items()})
            out.append((bucket, total))
        return out

    async def ramp_facts(self) -> tuple[dict[str, int], dict[str, int]]:
        """(hired, first_win): each rep's earliest hire and first win (epoch seconds)."""
        facts: list[dict[str, int]] = []
        for fact in ("hired", "first_win"):
            earliest: dict[str, int] = {}
            for shard in await self._each_shard(
                "zrange", lambda p, f=fact: self.keys.ramp(p, f), 0, -1, withscores=True
            ):
                for rep_id, score in shard:
                    earliest[rep_id] = min(int(score), earliest.get(rep_id, int(score)))
            facts.append(earliest)
        return facts[0], facts[1]

    async def members(self, team: str) -> set[str]:
        """The reps seen in a team."""
        found: set[str] = set()
        for shard in await self._each_shard("smembers", lambda p: self.keys.members(p, team)):
            found |= set(shard)
        return found

    async def rep_days(
        self, scope: str, scope_id: str, buckets: Sequence[str]
    ) -> dict[str, list[tuple[str, Counter[str]]]]:
        """Each rep of a team (or the org) with its day accumulators over ``buckets``, in order.

        A rep's events all come from one partition (the key is the rep id), so each
        rep is read from the shard whose member set holds it: reps x days reads.
        """

        def members_key(p: int) -> str:
            return self.keys.members(p, scope_id) if scope == "team" else self.keys.reps(p)

        shards = await self._each_shard("smembers", members_key)
        where = sorted(
            (str(rep), p)
            for p, found in zip(self.keys.shards(), shards, strict=True)
            for rep in found
        )
        out: dict[str, list[tuple[str, Counter[str]]]] = {}
        for chunk in _round_trips(where, commands_each=len(buckets)):
            pipe = self.redis.pipeline(transaction=False)
            for rep, p in chunk:
                for bucket in buckets:
                    pipe.hgetall(self.keys.counts(p, "rep", rep, bucket))
            raw = iter(await pipe.execute())
            for rep, _ in chunk:
                days = [(b, Counter({k: int(v) for k, v in next(raw).items()})) for b in buckets]
                out.setdefault(rep, []).extend(days)
        return out

    async def get_message(self, board_id: str) -> dict[str, str]:
        """The Slack message (channel, ts, digest) that shows a live board, if any."""
        stored = await self.redis.hgetall(self.keys.slack_message(board_id))
        return {str(k): str(v) for k, v in stored.items()}

    async def set_message(self, board_id: str, channel: str, ts: str, digest: str) -> None:
        """Remember where a live board is shown and what it last said."""
        key = self.keys.slack_message(board_id)
        await self.redis.hset(key, mapping={"channel": channel, "ts": ts, "digest": digest})
        await self.redis.expire(key, self.ttls.counters_s)

    async def due_watches(self, now: float, limit: int = 100) -> list[tuple[int, str]]:
        """(partition, raw JSON) of no-show watches due at or before epoch ``now``, oldest
        first, at most ``limit`` per partition (a replayed backlog is worked off in slices)."""
        due = await self._each_shard(
            "zrangebyscore", self.keys.watch_due, "-inf", now, start=0, num=limit
        )
        return await self._watches(due)

    async def open_watches(self) -> list[tuple[int, str]]:
        """(partition, raw JSON) of every watch still tracked: booked, open or escalated."""
        return await self._watches(await self._each_shard("zrange", self.keys.watch_due, 0, -1))

    async def _watches(self, members: list[list[str]]) -> list[tuple[int, str]]:
        where = [
            (p, m) for p, shard in zip(self.keys.shards(), members, strict=True) for m in shard
        ]
        raws: list[str | None] = []
        for chunk in _round_trips(where):
            pipe = self.redis.pipeline(transaction=False)
            for partition, meeting in chunk:
                pipe.get(self.keys.watch(partition, meeting))
            raws += await pipe.execute()
        return [(p, raw) for (p, _), raw in zip(where, raws, strict=True) if raw is not None]

    async def advance_watches(self, moves: Sequence[tuple[int, str, Watch | None]]) -> int:
        """Replace each watch read at ``read`` by its new state (None: stop tracking), unless
        the counters agent changed it meanwhile. Returns how many moved."""
        moved = 0
        for chunk in _round_trips(moves):
            pipe = self.redis.pipeline(transaction=False)
            for partition, read, new in chunk:
                meeting = Watch.loads(read).meeting_id
                due = new.due.timestamp() if new is not None and new.due is not None else -1
                await self._advance_watch(
                    keys=[self.keys.watch(partition, meeting), self.keys.watch_due(partition)],
                    args=[read, new.dumps() if new is not None else "", due, meeting],
                    client=pipe,
                )
            moved += sum(int(done) for done in await pipe.execute())
        return moved

    async def badges(self, rep_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Badges already awarded, per rep: badge id -> day earned."""
        pipe = self.redis.pipeline(transaction=False)
        for rep in rep_ids:
            pipe.hgetall(self.keys.badges(rep))
        found = await pipe.execute() if rep_ids else []
        return {
            rep: {str(k): str(v) for k, v in got.items()}
            for rep, got in zip(rep_ids, found, strict=True)
        }

    async def award(self, awards: Sequence[tuple[str, str, str]]) -> None:
        """Record (rep, badge, day) awards; HSETNX keeps the first day if one raced."""
        pipe = self.redis.pipeline(transaction=False)
        for rep, badge, day in awards:
            pipe.hsetnx(self.keys.badges(rep), badge, day)
        await pipe.execute()

    async def add_contest(self, contest: Contest) -> bool:
        """Store a new contest; False when one with that id exists."""
        return bool(
            await self.redis.hsetnx(self.keys.contests(), contest.id, contest.model_dump_json())
        )

    async def contests(self) -> list[Contest]:
        """Every contest, by start."""
        raw = await self.redis.hgetall(self.keys.contests())
        return sorted((Contest.model_validate_json(v) for v in raw.values()), key=lambda c: c.start)

    async def ranking(self, board_id: str) -> list[str] | None:
        """A board's rep order at the last check, or None before the first."""
        raw = await self.redis.get(self.keys.ranking(board_id))
        return None if raw is None else [str(r) for r in orjson.loads(raw)]

    async def set_ranking(self, board_id: str, reps: Sequence[str]) -> None:
        """Remember a board's rep order (kept a week past its period at most)."""
        await self.redis.set(self.keys.ranking(board_id), orjson.dumps(list(reps)), ex=40 * 86_400)

    async def swap_checked(self, what: str, now: float) -> float | None:
        """Set when ``what`` was last checked to ``now``; return the previous time, if any."""
        previous = await self.redis.getset(self.keys.checked(what), str(now))
        return None if previous is None else float(previous)

    async def due(self, what: str, now: float, every_s: float) -> bool:
        """True (and the clock reset) when ``what`` last ran ``every_s`` ago or never."""
        key = self.keys.checked(what)
        last = await self.redis.get(key)
        if last is not None and now - float(last) < every_s:
            return False
        await self.redis.set(key, str(now))
        return True

    async def was_raised(self, identity: str) -> bool:
        """True when a once-a-day alert was already published."""
        return bool(await self.redis.exists(self.keys.raised(identity)))

    async def mark_raised(self, identities: Iterable[str], ttl_s: int = 2 * 86_400) -> None:
        """Record once-a-day alerts as published (after the publish, so none is lost)."""
        pipe = self.redis.pipeline(transaction=False)
        for identity in identities:
            pipe.set(self.keys.raised(identity), "1", ex=ttl_s)
        await pipe.execute()

    async def pace_firing(self) -> set[str]:
        """The "behind target" alerts currently firing."""
        return {str(m) for m in await self.redis.smembers(self.keys.pace_firing())}

    async def set_pace_firing(self, started: Iterable[str], stopped: Iterable[str]) -> None:
        """Record which "behind target" alerts started and stopped firing."""
        pipe = self.redis.pipeline(transaction=True)
        if started := list(started):
            pipe.sadd(self.keys.pace_firing(), *started)
        if stopped := list(stopped):
            pipe.srem(self.keys.pace_firing(), *stopped)
        await pipe.execute()

    async def ping(self) -> bool:
        """True when Redis answers."""
        return bool(await self.redis.ping())

    async def durability_problems(self) -> list[str]:
        """What makes Redis unsafe for acknowledged batches now: a failed AOF write or
        snapshot (Redis then refuses writes, or keeps them only in memory), a load in
        progress, or an eviction policy that could drop counters and watermarks."""
        info = await self.redis.info("persistence")
        policy = (await self.redis.info("memory")).get("maxmemory_policy", "noeviction")
        found = [
            f"{name}: {info[name]}"
            for name in (
                "aof_last_write_status",
                "aof_last_bgrewrite_status",
                "rdb_last_bgsave_status",
            )
            if info.get(name, "ok") != "ok"
        ]
        if info.get("loading"):
            found.append("loading: the dataset is still being read from disk")
        if policy != "noeviction":
            found.append(f"maxmemory-policy {policy}: Redis may evict state; set noeviction")
        return found

    async def _sum_hashes(self, keys: Iterable[str]) -> Counter[str]:
        """Field-wise sum of integer hashes, read in one pipelined round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        total: Counter[str] = Counter()
        for fields in await pipe.execute():
            total.update({name: int(value) for name, value in fields.items()})
        return total

    async def _each_shard(self, command: str, key_of: Any, *args: Any, **kwargs: Any) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for partition in self.keys.shards():
            getattr(pipe, command)(key_of(partition), *args, **kwargs)
        return list(await pipe.execute())
