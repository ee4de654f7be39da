"""Fair boards: rank by the share of each rep's own target, by a weighted scorecard of the
rep's role, or by the improvement on the previous period (pure).

A raw count favours the rep with the easiest territory and the longest tenure. So a board
may rank by **attainment** (``rank_by: attainment``): actual / the rep's own target for the
period, in percent. A rep hired during the period gets a **prorated** target, the share of the
period's working time from the hire on, so a new rep is not last by construction. A
**scorecard** (``metric: score``) weighs several metrics against their targets (a score
of 0 to 100+, 100 meaning every target met). **Most improved** (``rank_by: improvement``)
ranks the change of a metric against the rep's previous period.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from spm_stream.metrics.table import COUNT_TARGETS, LOWER_IS_BETTER, RATE_TARGETS
from spm_stream.ranking.leaderboards import Valuation, metric_value
from spm_stream.time.windows import Period
from spm_stream.time.worktime import WorkCalendar, working_seconds

__all__ = [
    "RANK_BY",
    "RankBy",
    "RepFacts",
    "Scorecard",
    "attainment",
    "attainment_of",
    "check_ranking",
    "check_target_metric",
    "improvement_of",
    "prorated",
    "rank_by_of",
    "score_of",
    "target_of",
]

RankBy = Literal["value", "attainment", "improvement"]
RANK_BY: Final = ("value", "attainment", "improvement")

Weight = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def rank_by_of(text: str) -> RankBy:
    """``rank_by`` from a query or a flag; ValueError naming the choices."""
    for choice in ("value", "attainment", "improvement"):
        if text == choice:
            return choice
    raise ValueError(f"rank_by: expected one of {', '.join(RANK_BY)}, got {text!r}")


def check_ranking(metric: str, rank_by: str) -> None:
    """ValueError naming the field when ``metric`` cannot be ranked ``rank_by`` (one check
    for board queries and configured boards)."""
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by: expected one of {', '.join(RANK_BY)}")
    if metric == "score" and rank_by != "value":
        raise ValueError("metric score: already a share of targets; rank_by value only")
    if rank_by == "attainment":
        try:
            check_target_metric(metric)
        except ValueError as exc:
            raise ValueError(f"rank_by attainment: {exc}") from None
    if rank_by == "improvement" and metric in ("points", "score"):
        raise ValueError(f"rank_by improvement: not for {metric}")


def check_target_metric(metric: str) -> str:
    """The metric if a target can be set for it (counts, rates, revenue against quota)."""
    if metric in COUNT_TARGETS or metric in RATE_TARGETS:
        return metric
    if metric.startswith("revenue:") and len(metric) == 11 and metric[8:].isupper():
        return metric
    raise ValueError(
        f"{metric!r} takes no target (targets exist for {', '.join(COUNT_TARGETS)}, "
        f"{', '.join(RATE_TARGETS)} and revenue:<CUR> against quota)"
    )


class Scorecard(BaseModel):
    """Weighted metrics of one role, e.g. ``{calls: 2, meetings_booked: 3, win_rate: 1}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[str, Weight] = Field(min_length=1)

    @field_validator("weights")
    @classmethod
    def _targets_exist(cls, value: dict[str, float]) -> dict[str, float]:
        for metric in value:
            check_target_metric(metric)
        return value


@dataclass(frozen=True, slots=True)
class RepFacts:
    """What fair boards know of each rep beyond their counts."""

    target: Callable[[str, str], float | None]  # (rep, metric) -> target of the period kind
    hired: Mapping[str, int]  # rep -> epoch seconds of the hire
    calendar_of: Callable[[str], WorkCalendar]
    scorecard_of: Callable[[str], Scorecard | None]


def target_of(resolved: Mapping[str, Any], metric: str) -> float | None:
    """A metric's target among a scope's resolved targets (``Targets.for_scope``): the
    quota of a currency for ``revenue:CUR``, else the metric's own; None when unset."""
    if metric.startswith("revenue:"):
        quota = resolved.get("quota") or {}
        found = quota.get(metric.removeprefix("revenue:"))
    else:
        found = resolved.get(metric)
    return float(found) if isinstance(found, int | float) and found > 0 else None


def prorated(target: float, hired_at: datetime | None, period: Period, cal: WorkCalendar) -> float:
    """A rep's target for a period they joined during: scaled by the share of the period's
    working time from the hire on (a rep hired before the period keeps the full target).
    Rates are not prorated: a percentage does not grow with time."""
    if hired_at is None or hired_at <= period.start:
        return target
    whole = working_seconds(cal, period.start, period.end)
    if whole <= 0:
        return target
    share = working_seconds(cal, hired_at, period.end) / whole
    return target * share


def attainment(actual: float, target: float, metric: str) -> float | None:
    """Actual as a percentage of target (for a loss, such as no-show rate: target / actual)."""
    if metric in LOWER_IS_BETTER:
        return None if actual <= 0 else target / actual * 100
    return actual / target * 100


def _rep_target(facts: RepFacts, rep: str, metric: str, period: Period) -> float | None:
    target = facts.target(rep, metric)
    if target is None or metric in RATE_TARGETS:
        return target
    hired = facts.hired.get(rep)
    hired_at = datetime.fromtimestamp(hired, period.zone) if hired is not None else None
    return prorated(target, hired_at, period, facts.calendar_of(rep))


def attainment_of(metric: str, facts: RepFacts, period: Period) -> Valuation:
    """Rank by the share of each rep's own (prorated) target; reps without one do not rank."""
    check_target_metric(metric)

    def value_of(rep: str, acc: Mapping[str, int]) -> tuple[float | None, int]:
        target = _rep_target(facts, rep, metric, period)
        actual, volume = metric_value(acc, metric)
        if target is None or actual is None:
            return None, volume
        return attainment(actual, target, metric), volume

    return value_of


def score_of(facts: RepFacts, period: Period) -> Valuation:
    """Rank by the rep's role scorecard: the weighted mean of each metric's attainment
    (uncapped: 100 is every target met). Metrics without a target for the rep are left out,
    and the weights of the others count; a rep with no scorecard does not rank."""

    def value_of(rep: str, acc: Mapping[str, int]) -> tuple[float | None, int]:
        card = facts.scorecard_of(rep)
        if card is None:
            return None, 0
        total, weights, volume = 0.0, 0.0, 0
        for metric, weight in card.weights.items():
            target = _rep_target(facts, rep, metric, period)
            actual, count = metric_value(acc, metric)
            volume += count
            if target is None or actual is None:
                continue
            share = attainment(actual, target, metric)
            if share is not None:
                total, weights = total + weight * share, weights + weight
        return (total / weights if weights else None), volume

    return value_of


def improvement_of(metric: str, previous: Mapping[str, float]) -> Valuation:
    """Rank by the change on the previous period (a loss improves as it falls); a rep without
    a previous value starts from 0 for a count and does not rank for a rate."""

    def value_of(rep: str, acc: Mapping[str, int]) -> tuple[float | None, int]:
        now, volume = metric_value(acc, metric)
        before = previous.get(rep)
        if now is None:
            return None, volume
        if before is None:
            if metric in RATE_TARGETS or metric in LOWER_IS_BETTER:
                return None, volume
            before = 0.0
        change = before - now if metric in LOWER_IS_BETTER else now - before
        return change, volume

    return value_of
