"""Configured Slack boards: which board goes to which channel, live or on a schedule.

``boards:`` in ``SPM_CONFIG`` lists them; each names a channel, a team (or the
org), a metric and a period. A ``live`` board is one message per period kept
current with ``chat.update`` (only when the ranking changed); a ``schedule``
(cron, in the org zone) posts a fresh message at those times — the daily 17:00
or Friday-afternoon board — and nothing in between unless ``live: true`` too. A
configured board of a team replaces that team's default live board (one board
message per team channel, not two). Only the leader worker posts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from spm_stream.ranking.fair import RankBy, check_ranking
from spm_stream.ranking.leaderboards import BoardMetric
from spm_stream.ranking.privacy import Visibility
from spm_stream.time.cron import Cron
from spm_stream.time.windows import PeriodKind

__all__ = ["BoardSpec", "all_boards"]


class BoardSpec(BaseModel):
    """One board in one channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str | None = Field(
        default=None,
        pattern=r"^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{2,})$",
        description="Where a public board is posted (a private one needs none).",
    )
    team: str | None = Field(default=None, description="Team id; omit for the whole org.")
    metric: BoardMetric = "calls"
    period: PeriodKind = "day"
    live: bool | None = Field(
        default=None,
        description="Keep one message current. Default: true without a schedule, false with "
        "one (a scheduled board posts only on its schedule unless live: true).",
    )
    schedule: str | None = Field(default=None, description="Cron, e.g. '0 17 * * 1-5'.")
    top: int = Field(default=10, ge=1, le=50)
    chart: bool = Field(default=False, description="Scheduled posts carry a PNG bar chart.")
    min_volume: int = Field(default=1, ge=1)
    rank_by: RankBy = Field(
        default="value",
        description="value, attainment (share of each rep's own target) or improvement "
        "(change on the previous period).",
    )
    visibility: Visibility | None = Field(
        default=None, description="public (its channel) or private; default privacy.boards."
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            Cron.parse(value)
        return value

    @model_validator(mode="after")
    def _something_to_do(self) -> BoardSpec:
        if not self.is_live and self.schedule is None:
            raise ValueError("a board needs live: true or a schedule")
        check_ranking(self.metric, self.rank_by)
        return self

    @property
    def is_live(self) -> bool:
        """Whether the board is one message kept current (see ``live``)."""
        return self.live if self.live is not None else self.schedule is None

    @property
    def key(self) -> str:
        """Identifies the board across restarts (channel, scope, metric, period)."""
        key = f"{self.channel or 'private'}:{self.team or 'org'}:{self.metric}:{self.period}"
        return key if self.rank_by == "value" else f"{key}:{self.rank_by}"


def all_boards(channels: Mapping[str, str | None], specs: Sequence[BoardSpec]) -> list[BoardSpec]:
    """The configured boards, then the default board (today's calls, live) of every team that
    has a channel and no board of its own in ``boards:`` (which replaces the default)."""
    configured = {spec.team for spec in specs if spec.team is not None}
    defaults = [
        BoardSpec(channel=channel, team=team)
        for team, channel in channels.items()
        if channel and team not in configured
    ]
    return [*specs, *defaults]
