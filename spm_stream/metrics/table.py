"""The one table of metrics: what each counts, how it is shown, ranked and targeted.

Every list of metrics elsewhere (the keys of the ``kpis`` object, what a board
can rank, what takes a target, what is a percentage) is derived from ``METRICS``,
so a new metric is one row here plus its formula in ``kpis``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "BOARD_COUNTS",
    "BOARD_RATES",
    "COUNT_TARGETS",
    "KPI_KEYS",
    "LOWER_IS_BETTER",
    "METRICS",
    "MONEY_KPIS",
    "PERCENT_KPIS",
    "RATE_TARGETS",
    "Metric",
]

Unit = Literal["count", "percent", "money", "days", "score", "other"]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric. ``counts``: the accumulator field a count metric counts (a board can rank
    it); ``volume``: the fields whose sum is a rate's denominator (a board ranks it with a
    minimum volume); ``target``: how a target is given (a number per period kind for
    ``count``, one percentage or score for ``rate``); ``kpi``: a key of the ``kpis`` object."""

    name: str
    unit: Unit
    counts: str | None = None
    volume: tuple[str, ...] = ()
    lower_is_better: bool = False
    target: Literal["count", "rate"] | None = None
    kpi: bool = True


METRICS: Final[tuple[Metric, ...]] = (
    # The kpis object, in the order of the source documents.
    Metric("reach_rate", "percent", volume=("activity.call", "activity.email", "activity.social"),
           target="rate"),
    Metric("success_rate", "percent", volume=("conversation.meaningful",), target="rate"),
    Metric("pipe_rate", "percent", volume=("lead.qualified",), target="rate"),
    Metric("total_revenue", "money"),
    Metric("revenue_by_product", "other"),
    Metric("avg_deal_size", "money"),
    Metric("sales_cycle_days", "days", volume=("cycle_n",), lower_is_better=True),
    Metric("deals_without_cycle", "count"),
    Metric("win_rate", "percent", volume=("deal.won", "deal.lost"), target="rate"),
    Metric("quota_attainment", "percent"),
    Metric("calls", "count", counts="activity.call", target="count"),
    Metric("emails", "count", counts="activity.email", target="count"),
    Metric("social", "count", counts="activity.social", target="count"),
    Metric("meetings_booked", "count", counts="meeting.booked", target="count"),
    Metric("demos", "count", counts="activity.demo", target="count"),
    Metric("events_attended", "count", counts="activity.event_attended", target="count"),
    Metric("nps", "score", volume=("nps_promoter", "nps_passive", "nps_detractor"),
           target="rate"),
    Metric("ramp_days", "days"),
    Metric("quote_acceptance_rate", "percent", volume=("quote.submitted",), target="rate"),
    Metric("no_show_rate", "percent", volume=("meeting.held", "meeting.no_show"),
           lower_is_better=True, target="rate"),
    Metric("avg_discount", "percent", volume=("disc_n",), lower_is_better=True),
    Metric("referrals_given", "count", counts="referral.given", target="count"),
    Metric("referrals_received", "count", counts="referral.received", target="count"),
    Metric("funnel", "other"),
    # Counts a board can rank that are not KPIs of their own.
    Metric("conversations", "count", counts="conversation.meaningful", kpi=False),
    Metric("leads_qualified", "count", counts="lead.qualified", kpi=False),
    Metric("in_forecast", "count", counts="lead.in_forecast", kpi=False),
    Metric("meetings_held", "count", counts="meeting.held", kpi=False),
    Metric("deals_won", "count", counts="deal.won", kpi=False),
    Metric("quotes_accepted", "count", counts="quote.accepted", kpi=False),
    # The funnel's stage conversions (inside ``funnel``).
    Metric("lead_to_qualified", "percent", kpi=False),
    Metric("qualified_to_forecast", "percent", kpi=False),
    Metric("forecast_to_won", "percent", kpi=False),
)  # fmt: skip

#: Every key of the ``kpis`` object, in output order.
KPI_KEYS: Final = tuple(m.name for m in METRICS if m.kpi)
#: Count metrics a board ranks -> the accumulator field each counts.
BOARD_COUNTS: Final = {m.name: m.counts for m in METRICS if m.counts is not None}
#: Rates and averages a board ranks -> the fields whose sum is the volume.
BOARD_RATES: Final = {m.name: m.volume for m in METRICS if m.volume}
LOWER_IS_BETTER: Final = frozenset(m.name for m in METRICS if m.lower_is_better)
#: Targets given as one number (a percentage, or the NPS score).
RATE_TARGETS: Final = tuple(m.name for m in METRICS if m.target == "rate")
#: Targets given per period kind, e.g. ``calls: {day: 50}``.
COUNT_TARGETS: Final = tuple(m.name for m in METRICS if m.target == "count")
PERCENT_KPIS: Final = frozenset(m.name for m in METRICS if m.unit == "percent")
MONEY_KPIS: Final = frozenset(m.name for m in METRICS if m.unit == "money")
