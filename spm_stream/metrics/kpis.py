"""The KPIs of the source documents, computed from a summed day accumulator (pure).

Formulas follow the source articles (docs/kpis-and-events.md): rates are percentages (40.0 means
40 %); a rate whose denominator is zero is ``None`` ("no data"), never 0; money
is an object keyed by currency and never summed across currencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from spm_stream.counting.facts import PPM, from_money_units
from spm_stream.metrics.table import KPI_KEYS

__all__ = ["compute_kpis", "ramp_days", "rate"]


_DAY_S: Final = 86_400


def rate(numerator: float, denominator: float) -> float | None:
    """100 * numerator / denominator, or None when there is nothing to divide by."""
    return None if denominator == 0 else numerator / denominator * 100


def _money(acc: Mapping[str, int], prefix: str) -> dict[str, float]:
    return {
        field.removeprefix(prefix): from_money_units(units)
        for field, units in sorted(acc.items())
        if field.startswith(prefix) and units
    }


def _by_product(acc: Mapping[str, int]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for field, units in sorted(acc.items()):
        if field.startswith("revp|"):
            _, currency, product = field.split("|", 2)
            out.setdefault(product, {})[currency] = from_money_units(units)
    return out


def ramp_days(
    hired: Mapping[str, int], first_win: Mapping[str, int], reps: Iterable[str], until: int
) -> float | None:
    """Mean days from hire to first won deal over ``reps`` whose first win is before ``until``."""
    spans = [
        (first_win[r] - hired[r]) / _DAY_S
        for r in reps
        if r in hired and r in first_win and first_win[r] < until and first_win[r] >= hired[r]
    ]
    return sum(spans) / len(spans) if spans else None


def compute_kpis(
    acc: Mapping[str, int],
    *,
    quota: Mapping[str, float] | None = None,
    ramp: float | None = None,
) -> dict[str, Any]:
    """Every KPI of docs/kpis-and-events.md from one accumulator (the sum of a period's days)."""

    def n(field: str) -> int:
        return acc.get(field, 0)

    outbound = n("activity.call") + n("activity.email") + n("activity.social")
    meaningful = n("conversation.meaningful")
    leads, qualified = n("lead.created"), n("lead.qualified")
    in_forecast, won, lost = n("lead.in_forecast"), n("deal.won"), n("deal.lost")
    revenue = _money(acc, "rev|")
    wins_by_currency = {f.removeprefix("won|"): c for f, c in acc.items() if f.startswith("won|")}
    promoters, detractors = n("nps_promoter"), n("nps_detractor")
    answers = promoters + n("nps_passive") + detractors
    held, no_show = n("meeting.held"), n("meeting.no_show")
    kpis: dict[str, Any] = {
        "reach_rate": rate(meaningful, outbound),
        "success_rate": rate(qualified, meaningful),
        "pipe_rate": rate(in_forecast, qualified),
        "total_revenue": revenue,
        "revenue_by_product": _by_product(acc),
        "avg_deal_size": {
            cur: amount / wins_by_currency[cur]
            for cur, amount in revenue.items()
            if wins_by_currency.get(cur)
        },
        "sales_cycle_days": (n("cycle_s") / n("cycle_n") / _DAY_S) if n("cycle_n") else None,
        "deals_without_cycle": n("cycle_excluded"),
        "win_rate": rate(won, won + lost),
        "quota_attainment": (
            None
            if not quota
            else {cur: revenue.get(cur, 0.0) / target * 100 for cur, target in quota.items()}
        ),
        "calls": n("activity.call"),
        "emails": n("activity.email"),
        "social": n("activity.social"),
        "meetings_booked": n("meeting.booked"),
        "demos": n("activity.demo"),
        "events_attended": n("activity.event_attended"),
        "nps": None if answers == 0 else (promoters - detractors) / answers * 100,
        "ramp_days": ramp,
        "quote_acceptance_rate": rate(n("quote.accepted"), n("quote.submitted")),
        "no_show_rate": rate(no_show, held + no_show),
        "avg_discount": (n("disc_ppm") / n("disc_n") / PPM * 100) if n("disc_n") else None,
        "referrals_given": n("referral.given"),
        "referrals_received": n("referral.received"),
        "funnel": {
            "leads": leads,
            "qualified": qualified,
            "in_forecast": in_forecast,
            "won": won,
            "lead_to_qualified": rate(qualified, leads),
            "qualified_to_forecast": rate(in_forecast, qualified),
            "forecast_to_won": rate(won, in_forecast),
        },
    }
    return {key: kpis[key] for key in KPI_KEYS}
