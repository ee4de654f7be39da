"""Leaderboards for any metric and period, ranked from the reps' day accumulators (pure).

A board ranks reps by a metric over a period: a count (``calls``), revenue in
one currency (``revenue:EUR``) or a rate (``win_rate``) that only qualifies a rep
with at least ``min_volume`` in its denominator. Ties go to the **earlier
achiever**: the rep whose running total over the period's days reached the
final value on an earlier day; then the rep id, so the order is deterministic
and a rebuild from the log ranks identically. Lower is better for the rates
that measure a loss (``no_show_rate``, ``avg_discount``, ``sales_cycle_days``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import AfterValidator

from spm_stream.metrics.kpis import compute_kpis
from spm_stream.metrics.table import BOARD_COUNTS, BOARD_RATES, LOWER_IS_BETTER

__all__ = [
    "BOARD_METRIC_HELP",
    "BoardMetric",
    "Pass",
    "Row",
    "Valuation",
    "check_metric",
    "metric_value",
    "neighbours",
    "passes",
    "rank",
    "rank_by",
]


BOARD_METRIC_HELP: Final = (
    f"counts: {', '.join(BOARD_COUNTS)}; points; score (scorecards:); revenue:<CUR> "
    "(e.g. revenue:EUR); "
    f"rates (with --min-volume): {', '.join(BOARD_RATES)}"
)


def check_metric(metric: str) -> str:
    """The metric if boards know it; else ValueError listing the known ones."""
    if metric in BOARD_COUNTS or metric in BOARD_RATES or metric in ("points", "score"):
        return metric
    if metric.startswith("revenue:") and len(metric) == 11 and metric[8:].isupper():
        return metric
    raise ValueError(f"unknown metric {metric!r} ({BOARD_METRIC_HELP})")


#: A config field naming a board metric, checked at load with the known ones listed.
BoardMetric = Annotated[str, AfterValidator(check_metric)]


def metric_value(acc: Mapping[str, int], metric: str) -> tuple[float | None, int]:
    """(value, volume) of a metric over an accumulator; value None when there is no data."""
    if metric in BOARD_COUNTS:
        count = acc.get(BOARD_COUNTS[metric], 0)
        return float(count), count
    if metric.startswith("revenue:"):
        currency = metric.removeprefix("revenue:")
        revenue: Mapping[str, float] = compute_kpis(acc)["total_revenue"]
        return revenue.get(currency, 0.0), acc.get(f"won|{currency}", 0)
    value = compute_kpis(acc)[metric]
    volume = sum(acc.get(f, 0) for f in BOARD_RATES[metric])
    return (None if value is None else float(value)), volume


@dataclass(frozen=True, slots=True)
class Row:
    """One rep's place on a board."""

    rank: int
    rep_id: str
    value: float
    volume: int
    reached: str  # the day the rep reached ``value`` ("day:YYYY-MM-DD")

    def as_json(self) -> dict[str, Any]:
        """Plain data for the CLI and HTTP."""
        return {
            "rank": self.rank,
            "rep_id": self.rep_id,
            "value": self.value,
            "volume": self.volume,
            "reached": self.reached.removeprefix("day:"),
        }


def rank(
    days: Mapping[str, Sequence[tuple[str, Mapping[str, int]]]],
    metric: str,
    min_volume: int = 1,
    points_of: Callable[[str, Mapping[str, int]], float] | None = None,
) -> list[Row]:
    """Rank reps by ``metric`` over their (day bucket, accumulator) pairs, days in order.

    Reps below ``min_volume`` (or without data) do not qualify; ties go to the
    earlier achiever, then to the rep id. ``points_of`` scores one day for the
    ``points`` metric (``spm_stream.ranking.gamification``).
    """
    check_metric(metric)
    if metric == "points":
        if points_of is None:
            raise ValueError("the points metric needs the gamification config")
        return _rank_points(days, points_of, min_volume)
    if metric == "score":
        raise ValueError("the score metric needs scorecards and targets (ranking.fair.score_of)")

    def value_of(rep: str, acc: Mapping[str, int]) -> tuple[float | None, int]:
        return metric_value(acc, metric)

    return rank_by(days, value_of, min_volume, lower_is_better=metric in LOWER_IS_BETTER)


#: A rep's (value, volume) from the running sum of their days: what a board ranks by.
Valuation = Callable[[str, Mapping[str, int]], tuple[float | None, int]]


def rank_by(
    days: Mapping[str, Sequence[tuple[str, Mapping[str, int]]]],
    value_of: Valuation,
    min_volume: int = 1,
    *,
    lower_is_better: bool = False,
) -> list[Row]:
    """Rank reps by any valuation of their running totals (a metric, the share of a target,
    a scorecard); the earlier achiever wins a tie, then the rep id."""
    sign = 1.0 if lower_is_better else -1.0
    scored: list[tuple[float, str, str, float, int]] = []
    for rep, rep_days in days.items():
        running: Counter[str] = Counter()
        reached = ""
        trail: list[tuple[str, float | None]] = []
        for bucket, acc in rep_days:
            running.update(acc)
            trail.append((bucket, value_of(rep, running)[0]))
        final_value, final_volume = value_of(rep, running)
        if final_value is None or final_volume < max(1, min_volume):
            continue
        # The first day from which the running value stayed at its final value.
        for bucket, value in reversed(trail):
            if value != final_value:
                break
            reached = bucket
        scored.append((sign * final_value, reached, rep, final_value, final_volume))
    scored.sort()
    return [
        Row(i + 1, rep, value, volume, reached)
        for i, (_, reached, rep, value, volume) in enumerate(scored)
    ]


def _rank_points(
    days: Mapping[str, Sequence[tuple[str, Mapping[str, int]]]],
    points_of: Callable[[str, Mapping[str, int]], float],
    min_volume: int,
) -> list[Row]:
    scored: list[tuple[float, str, str, float, int]] = []
    for rep, rep_days in days.items():
        total, reached, active = 0.0, "", 0
        for bucket, acc in rep_days:
            earned = points_of(bucket, acc)
            if earned:
                total, reached, active = total + earned, bucket, active + 1
        if total > 0 and active >= min_volume:
            scored.append((-total, reached, rep, total, active))
    scored.sort()
    return [Row(i + 1, rep, v, n, reached) for i, (_, reached, rep, v, n) in enumerate(scored)]


@dataclass(frozen=True, slots=True)
class Pass:
    """``rep_id`` moved above ``passed`` and now holds ``rank``."""

    rep_id: str
    passed: str
    rank: int


def passes(before: Sequence[str], after: Sequence[Row], top: int) -> list[Pass]:
    """Who overtook whom between two rankings, for moves that end in the top ``top``.

    Only reps ranked in both count (a newcomer passes nobody); each pass names
    the rep just overtaken for the new rank ("Ana passed Ben for #1").
    """
    old = {rep: i for i, rep in enumerate(before)}
    found: list[Pass] = []
    ranked = [r for r in after if r.rep_id in old]
    for i, row in enumerate(ranked):
        if row.rank > top:
            break
        below = ranked[i + 1 :]
        overtaken = [r.rep_id for r in below if old[r.rep_id] < old[row.rep_id]]
        if overtaken:
            # The one who held the best old rank among them: the rep whose place was taken.
            found.append(Pass(row.rep_id, min(overtaken, key=old.__getitem__), row.rank))
    return found


def neighbours(rows: Sequence[Row], rep_id: str, around: int = 1) -> list[Row]:
    """A rep's row with the ``around`` rows just above and below it (empty if not ranked)."""
    for i, row in enumerate(rows):
        if row.rep_id == rep_id:
            return list(rows[max(0, i - around) : i + around + 1])
    return []
