"""The ``/spm`` slash command: what the text asks for (pure), answered as ephemeral Block Kit.

``/spm me`` · ``/spm board [metric] [period] [rank_by]`` · ``/spm team`` · ``/spm help``.
An empty text is ``me``; anything else gets a one-line pointer to ``/spm help``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from spm_stream.ranking.fair import RANK_BY
from spm_stream.ranking.leaderboards import check_metric
from spm_stream.time.windows import PERIOD_KINDS

__all__ = ["COMMAND", "Command", "parse"]

#: The command name the manifest registers.
COMMAND: Final = "/spm"

Verb = Literal["me", "board", "team", "help", "unknown"]


@dataclass(frozen=True, slots=True)
class Command:
    """One ``/spm`` request: the verb, a board's metric, period and ranking, or the error."""

    verb: Verb
    metric: str = "calls"
    period: str = "week"
    rank_by: str = "value"
    error: str | None = None
    text: str = ""


def parse(text: str) -> Command:
    """What ``/spm <text>`` asks for; a board's words in any order (``board week deals_won``)."""
    words = text.strip().lower().split()
    if not words or words[0] == "me":
        return Command("me", text=text)
    verb = words[0]
    if verb == "help":
        return Command("help", text=text)
    if verb == "team":
        return Command("team", text=text)
    if verb != "board":
        return Command("unknown", text=text)
    metric, period, rank_by = "calls", "week", "value"
    for word in words[1:]:
        if word in PERIOD_KINDS:
            period = word
        elif word in RANK_BY:
            rank_by = word
        else:
            if word.startswith("revenue:"):
                word = "revenue:" + word.removeprefix("revenue:").upper()
            try:
                metric = check_metric(word)
            except ValueError as exc:
                return Command("board", error=str(exc), text=text)
    return Command("board", metric, period, rank_by, text=text)
