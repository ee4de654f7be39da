"""The worked examples of the source documents (seeds 000, 001, 004) as event streams.

Each scenario lives on its own team (and reps), so all of them can share one
topic in the live test. ``expected`` lists the KPIs the source states; every
other rate of the scenario must be ``None`` or what follows from the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from spm_stream.config.scopes import Routing
from spm_stream.config.targets import Targets
from spm_stream.reports.report import Ledger, offline_report
from tests.events import event

AT = date(2026, 11, 2)
DAY = "2026-11-02T10:00:00Z"

#: Targets for the quota example of seed 004 ($40,000 of $50,000 → 80 %).
TARGETS_YAML = """
teams:
  g-quota:
    quota:
      month: {USD: 50000}
"""
TARGETS = Targets.model_validate(yaml.safe_load(TARGETS_YAML))
UTC_ROUTING = Routing(ZoneInfo("UTC"))


def offline_one(
    ledger: Ledger, scope: str, scope_id: str, kind: str, at: date = AT, targets: Targets = TARGETS
) -> dict[str, Any]:
    """The offline report object of one scope (UTC, the golden targets by default)."""
    (report,) = offline_report(
        ledger,
        kind=kind,
        at=at,
        routing=UTC_ROUTING,
        targets=targets,
        scope=scope,
        scope_id=scope_id,
    )
    return report


@dataclass
class Golden:
    """One worked example: the events, where to look, and what the source says."""

    name: str
    source: str
    team: str
    expected: dict[str, Any]
    period: str = "month"
    scope: str = "team"
    scope_id: str | None = None
    events: list[bytes] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.scope_id or self.team

    def add(self, n: int, etype: str, rep: str = "a", at: str = DAY, **data: Any) -> Golden:
        for _ in range(n):
            n = str(len(self.events))
            # "{n}" in a value makes it unique per event: each its own meeting, say.
            fields = {k: v.replace("{n}", n) if isinstance(v, str) else v for k, v in data.items()}
            self.events.append(
                event(f"{self.name}-{n}", etype, f"{self.team}-{rep}", at, self.team, **fields)
            )
        return self


def _deal(
    g: Golden,
    n: int,
    amount: float,
    product: str = "p",
    rep: str = "a",
    won: bool = True,
    **extra: Any,
) -> Golden:
    return g.add(
        n,
        "deal.won" if won else "deal.lost",
        rep=rep,
        deal_id="d",
        amount=amount,
        currency="USD",
        product=product,
        **extra,
    )


def goldens() -> list[Golden]:
    """Every worked example, built fresh."""
    reach = Golden(
        "reach",
        "001: 40 meaningful conversations per 100 outbound activities",
        "g-reach",
        {"reach_rate": 40.0, "calls": 60, "emails": 30, "social": 10},
    )
    reach.add(60, "activity.call").add(30, "activity.email").add(10, "activity.social")
    reach.add(40, "conversation.meaningful")

    success = Golden(
        "success",
        "001: 11 qualified leads per 100 meaningful conversations",
        "g-success",
        {"success_rate": 11.0, "reach_rate": None},
    )
    success.add(100, "conversation.meaningful").add(11, "lead.qualified", lead_id="l")

    pipe = Golden(
        "pipe", "001: 73 of 100 qualified leads land in the forecast", "g-pipe", {"pipe_rate": 73.0}
    )
    pipe.add(100, "lead.qualified", lead_id="l").add(73, "lead.in_forecast", lead_id="l")

    total = Golden(
        "total",
        "004: 100 x $25 + 100 x $50 = $7,500",
        "g-total",
        {
            "total_revenue": {"USD": 7500.0},
            "revenue_by_product": {"basic": {"USD": 2500.0}, "premium": {"USD": 5000.0}},
        },
    )
    _deal(total, 100, 25.0, "basic")
    _deal(total, 100, 50.0, "premium")

    per_rep = Golden(
        "per-rep",
        "004: Jim sold 10 items at $1,000: $10,000",
        "g-per-rep",
        {"total_revenue": {"USD": 10000.0}},
        scope="rep",
        scope_id="g-per-rep-jim",
    )
    _deal(per_rep, 10, 1000.0, rep="jim")
    _deal(per_rep, 3, 99.0, rep="other")

    per_product = Golden(
        "per-product",
        "004: 100 widgets at $100 and 50 service contracts at $500",
        "g-per-product",
        {"revenue_by_product": {"service": {"USD": 25000.0}, "widget": {"USD": 10000.0}}},
        period="quarter",
    )
    _deal(per_product, 100, 100.0, "widget", at="2026-10-05T09:00:00Z")
    _deal(per_product, 50, 500.0, "service", at="2026-12-20T09:00:00Z")

    size = Golden(
        "deal-size",
        "004: $50,000 from 100 deals: average deal size $500",
        "g-deal-size",
        {"avg_deal_size": {"USD": 500.0}, "total_revenue": {"USD": 50000.0}},
    )
    _deal(size, 50, 300.0)
    _deal(size, 50, 700.0)

    cycle = Golden(
        "cycle",
        "004: deals of 27, 28, 19, 21 and 20 days: 23 days",
        "g-cycle",
        {"sales_cycle_days": 23.0, "deals_without_cycle": 1},
    )
    for days in (27, 28, 19, 21, 20):
        created = date.fromordinal(AT.toordinal() - days).isoformat() + "T10:00:00Z"
        _deal(cycle, 1, 100.0, created_at=created)
    _deal(cycle, 1, 100.0)  # no created_at: counts in revenue, left out of the cycle

    win = Golden(
        "win", "004: 36 wins out of 100 opportunities decided: 36 %", "g-win", {"win_rate": 36.0}
    )
    _deal(win, 36, 10.0)
    win.add(64, "deal.lost", deal_id="d")

    quota = Golden(
        "quota",
        "004: $40,000 against a $50,000 quota: 80 %",
        "g-quota",
        {"quota_attainment": {"USD": 80.0}},
    )
    _deal(quota, 40, 1000.0)

    activity = Golden(
        "activity",
        "004: 200 calls, 150 e-mails and 10 meetings in a week",
        "g-activity",
        {"calls": 200, "emails": 150, "meetings_booked": 10},
        period="week",
        scope="rep",
        scope_id="g-activity-a",
    )
    activity.add(200, "activity.call").add(150, "activity.email")
    activity.add(10, "meeting.booked", meeting_id="m", scheduled_for="2026-11-05T10:00:00Z")
    activity.add(5, "activity.call", at="2026-11-09T10:00:00Z")  # next ISO week

    nps = Golden(
        "nps",
        "004: 55 promoters, 15 passives, 30 detractors of 100: NPS 25",
        "g-nps",
        {"nps": 25.0},
    )
    for score, n in ((10, 30), (9, 25), (8, 10), (7, 5), (6, 10), (0, 20)):
        nps.add(n, "nps.response", score=score)

    ramp = Golden(
        "ramp",
        "004: days from hire to first won deal",
        "g-ramp",
        {"ramp_days": 93.0},
        scope="rep",
        scope_id="g-ramp-a",
    )
    ramp.add(1, "rep.hired", at="2026-08-01T09:00:00Z", hired_at="2026-08-01")
    _deal(ramp, 1, 10.0, at="2026-11-02T00:00:00Z")
    _deal(ramp, 1, 10.0, at="2026-11-20T00:00:00Z")  # only the first win counts

    quotes = Golden(
        "quotes", "000: quotes submitted and accepted", "g-quotes", {"quote_acceptance_rate": 25.0}
    )
    quotes.add(20, "quote.submitted", quote_id="q").add(5, "quote.accepted", quote_id="q")

    no_show = Golden(
        "no-show", "001: no-shows among meetings that were due", "g-no-show", {"no_show_rate": 20.0}
    )
    # Ten meetings: one outcome each (spm_stream.counting.outcomes).
    no_show.add(8, "meeting.held", meeting_id="m{n}").add(2, "meeting.no_show", meeting_id="m{n}")

    discount = Golden(
        "discount", "000: pricing and discounting", "g-discount", {"avg_discount": 17.5}
    )
    _deal(discount, 1, 900.0, list_price=1000.0)
    _deal(discount, 1, 150.0, list_price=200.0)
    _deal(discount, 1, 500.0)  # no list price: not in the average

    funnel = Golden(
        "funnel",
        "002/003: stage-to-stage conversion",
        "g-funnel",
        {
            "funnel": {
                "leads": 200,
                "qualified": 50,
                "in_forecast": 20,
                "won": 5,
                "lead_to_qualified": 25.0,
                "qualified_to_forecast": 40.0,
                "forecast_to_won": 25.0,
            }
        },
    )
    funnel.add(200, "lead.created", lead_id="l").add(50, "lead.qualified", lead_id="l")
    funnel.add(20, "lead.in_forecast", lead_id="l")
    _deal(funnel, 5, 10.0)

    empty = Golden(
        "no-data",
        "docs/kpis-and-events.md: a rate with nothing to divide by is no data",
        "g-no-data",
        {
            "reach_rate": None,
            "success_rate": None,
            "pipe_rate": None,
            "win_rate": None,
            "nps": None,
            "sales_cycle_days": None,
            "avg_discount": None,
            "total_revenue": {},
            "quota_attainment": None,
            "ramp_days": None,
        },
    )
    empty.add(1, "referral.given")

    return [
        reach,
        success,
        pipe,
        total,
        per_rep,
        per_product,
        size,
        cycle,
        win,
        quota,
        activity,
        nps,
        ramp,
        quotes,
        no_show,
        discount,
        funnel,
        empty,
    ]
