"""Slack's rate-limit tiers, kept on our side so that steady state never meets a 429.

``chat.update`` is Tier 3 (about 50 calls a minute per workspace and method). Every live
board of a deployment edits its message with it, so they share one budget: a token bucket
refilled at ``per_minute``. A board whose turn finds the bucket empty waits for the next
tick (its message is a little older, nothing is lost), and the boards take turns so none
waits twice in a row while another goes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["CHAT_UPDATE_PER_MINUTE", "UpdateBudget"]

#: Below Tier 3's 50 a minute: room for a manual `post-leaderboard` and clock skew.
CHAT_UPDATE_PER_MINUTE: Final = 45.0


@dataclass
class UpdateBudget:
    """A token bucket over a monotonic clock in seconds (pure: the caller passes ``now``)."""

    per_minute: float = CHAT_UPDATE_PER_MINUTE
    capacity: float = CHAT_UPDATE_PER_MINUTE
    tokens: float = field(default=-1.0)
    at: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float) -> bool:
        """Spend one call if the budget has one at ``now``."""
        if self.at is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_minute / 60)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
