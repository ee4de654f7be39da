"""Who sees which ranks: shared surfaces show the top, a rep sees their own place privately.

The defaults, and why:

- A **channel board or TV screen** shows the top ``top`` (10) reps, plus the reps below the
  top who moved up since the last post (``movers``): public recognition for the best and
  for progress, never a public list of who is last.
- A **rep** sees their own rank, with the ``around`` (2) reps above and below, only where
  nobody else looks: their DM, their App Home, ``/spm me``.
- A **manager** sees their own team in full (``/spm team``, App Home): coaching needs the
  bottom of the list, and it is their team.
- Each board is **public** (posted to its channel) or **private** (seen only in App Home
  and ``/spm board``, as above). ``boards`` sets the default; a board's ``visibility``
  overrides it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from spm_stream.ranking.leaderboards import Row, neighbours

__all__ = ["Privacy", "Visibility", "moved_up", "own_rows", "shared_rows", "team_rows"]

Visibility = Literal["public", "private"]


class Privacy(BaseModel):
    """``privacy:`` in SPM_CONFIG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top: int = Field(default=10, ge=1, le=50, description="Rows a shared board shows.")
    movers: bool = Field(
        default=True, description="Shared boards also show reps below the top who moved up."
    )
    around: int = Field(
        default=2, ge=0, le=5, description="Rows above and below a rep's own, in private views."
    )
    boards: Visibility = Field(
        default="public", description="Default visibility of a board (public: its channel)."
    )


def moved_up(before: Sequence[str], after: Sequence[Row]) -> set[str]:
    """Reps ranked before and now who hold a better place than they did."""
    old = {rep: i for i, rep in enumerate(before)}
    return {row.rep_id for i, row in enumerate(after) if row.rep_id in old and i < old[row.rep_id]}


def shared_rows(rows: Sequence[Row], privacy: Privacy, moved: Collection[str] = ()) -> list[Row]:
    """What a channel or a screen shows: the top, and (``movers``) those below who moved up."""
    top = list(rows[: privacy.top])
    if not privacy.movers:
        return top
    return top + [r for r in rows[privacy.top :] if r.rep_id in moved]


def own_rows(rows: Sequence[Row], rep: str, privacy: Privacy) -> list[Row]:
    """A rep's own row with ``around`` rows above and below (empty when not ranked)."""
    return neighbours(rows, rep, privacy.around)


def team_rows(rows: Sequence[Row], members: Collection[str]) -> list[Row]:
    """A manager's view: every ranked rep of their team, with their place on the board."""
    return [r for r in rows if r.rep_id in members]
