"""Every Redis key spm-stream writes, in one place, with what it holds and why.

State is sharded like the log: each key written by the stream carries the hash
tag of the Kafka partition it comes from (``{crm-events:3}``). A batch of one
partition therefore touches a single Redis Cluster slot, so one Lua script can
apply it atomically together with that partition's offset watermark. Readers
sum or merge a key over all shards (``Keys.shards``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder for one deployment (prefix) reading one input topic."""

    prefix: str
    topic: str
    partitions: int

    def shard(self, partition: int) -> str:
        """Common head of a partition's keys; the braces are the Redis Cluster hash tag."""
        return f"{self.prefix}:{{{self.topic}:{partition}}}"

    def shards(self) -> range:
        """Every partition whose keys a reader must merge."""
        return range(self.partitions)

    # -- written by the counters agent, atomically per partition ---------------

    def watermark(self, partition: int) -> str:
        """STRING: last offset applied from this partition; replays at or below it are skipped."""
        return f"{self.shard(partition)}:wm"

    def stats(self, partition: int) -> str:
        """HASH counted|duplicates|rejected: how many events of this partition were handled."""
        return f"{self.shard(partition)}:stats"

    def seen(self, partition: int, day: str) -> str:
        """SET of event_ids by UTC day of occurred_at: the dedupe window (TTL = retention)."""
        return f"{self.shard(partition)}:seen:{day}"

    def counts(self, partition: int, scope: str, scope_id: str, period: str) -> str:
        """HASH event type -> count for a rep|team|org in a period bucket ("day:2026-11-02")."""
        return f"{self.shard(partition)}:cnt:{scope}:{scope_id}:{period}"

    def ramp(self, partition: int, fact: str) -> str:
        """ZSET rep_id -> epoch of the earliest "hired" or "first_win" (ZADD LT keeps the min)."""
        return f"{self.shard(partition)}:ramp:{fact}"

    def members(self, partition: int, team: str) -> str:
        """SET of rep_ids seen in a team (for the team's ramp time)."""
        return f"{self.shard(partition)}:members:team:{team}"

    def reps(self, partition: int) -> str:
        """SET of every rep_id seen in this partition (the candidates of org boards)."""
        return f"{self.shard(partition)}:members:org"

    def watch(self, partition: int, meeting_id: str) -> str:
        """STRING JSON: the no-show watch of one meeting (``spm_stream.rules.noshow.Watch``)."""
        return f"{self.shard(partition)}:watch:{meeting_id}"

    def outcome(self, partition: int, meeting_id: str) -> str:
        """STRING JSON {rank, type, ops}: what a meeting counts as, and the counter fields it
        was counted in, so a stronger outcome can take it back (spm_stream.counting.outcomes)."""
        return f"{self.shard(partition)}:outcome:{meeting_id}"

    def watch_due(self, partition: int) -> str:
        """ZSET meeting_id -> epoch seconds at which its watch next needs the rules timer."""
        return f"{self.shard(partition)}:watch-due"

    def watch_leads(self, partition: int) -> str:
        """HASH lead_id -> meeting_id of its latest booking (a new booking closes the old)."""
        return f"{self.shard(partition)}:watch-leads"

    # -- written by the rules timer (leader only) ---------------------------------

    def raised(self, identity: str) -> str:
        """STRING: a once-per-day alert (nudge, digest) was raised; expires after two days."""
        return f"{self.prefix}:rules:raised:{identity}"

    def pace_firing(self) -> str:
        """SET of "rep|metric|period" whose "behind target" alert is firing."""
        return f"{self.prefix}:rules:pace-firing"

    def badges(self, rep_id: str) -> str:
        """HASH badge id -> the day it was earned ("2026-11-23"), once per rep."""
        return f"{self.prefix}:rules:badges:{rep_id}"

    def contests(self) -> str:
        """HASH contest id -> contest JSON (`spm-stream contest create`)."""
        return f"{self.prefix}:contests"

    def ranking(self, board_id: str) -> str:
        """STRING JSON: the rep ids of a board in rank order at the last celebration check."""
        return f"{self.prefix}:rules:ranking:{board_id}"

    def checked(self, what: str) -> str:
        """STRING epoch: when a periodic rule (e.g. "badges") last ran."""
        return f"{self.prefix}:rules:checked:{what}"

    def slack_message(self, board_id: str) -> str:
        """HASH channel|ts|digest: the Slack message showing a live board (kept by chat.update)."""
        return f"{self.prefix}:slack:msg:{board_id}"

    # -- written by the CLI ------------------------------------------------------------

    def tv_revoked(self) -> str:
        """SET of TV screen names whose signed links are void (``spm-stream tv revoke``)."""
        return f"{self.prefix}:tv:revoked"

    def dlq_replayed(self) -> str:
        """HASH "partition:offset" of a dead letter -> when `spm-stream dlq replay` sent it back."""
        return f"{self.prefix}:dlq:replayed"
