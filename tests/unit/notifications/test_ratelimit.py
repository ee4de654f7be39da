"""The workspace's chat.update budget: a token bucket under Slack's Tier 3."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from notifications.ratelimit import UpdateBudget


def test_the_budget_spends_its_burst_then_refills_per_minute() -> None:
    budget = UpdateBudget(per_minute=45, capacity=45)
    assert sum(budget.take(0.0) for _ in range(100)) == 45
    assert not budget.take(1.0)  # 0.75 of a call refilled
    assert budget.take(2.0)
    assert sum(budget.take(62.0) for _ in range(100)) == 45  # a minute later: full again


@given(st.lists(st.floats(0, 5), min_size=1, max_size=400))
def test_no_minute_ever_sees_more_than_the_burst_plus_the_rate(gaps: list[float]) -> None:
    budget = UpdateBudget(per_minute=45, capacity=45)
    now, granted = 0.0, []
    for gap in gaps:
        now += gap
        if budget.take(now):
            granted.append(now)
    for start in granted:
        in_window = [t for t in granted if start <= t < start + 60]
        assert len(in_window) <= 45 + 45
