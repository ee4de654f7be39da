"""What one event contributes to the day accumulator of a rep, team or org.

Live (Redis hashes) and offline (``spm-stream report``) fold events through this
one function, so both hold exactly the same numbers. Every value is an integer,
which keeps sums exact and order-independent: money in 1/10 000 of the currency
unit, durations in seconds, discount ratios in millionths.

Accumulator fields:
  ``<event type>``            count of events of that type
  ``won|CUR``                 deals won in currency CUR
  ``rev|CUR``                 revenue in CUR (money units)
  ``revp|CUR|PRODUCT``        revenue in CUR for a product
  ``cycle_s`` / ``cycle_n``   summed seconds from created_at to win, and how many deals
  ``cycle_excluded``          wins without a usable created_at (left out of the cycle)
  ``disc_ppm`` / ``disc_n``   summed discount ratio (millionths) over wins with a list price
  ``nps_promoter|passive|detractor``  NPS answers by bucket
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Final

from spm_stream.contract.events import (
    DealWonData,
    Event,
    EventType,
    NpsData,
    RepHiredData,
)

__all__ = ["MONEY_SCALE", "PPM", "contributions", "from_money_units", "money_units", "ramp_fact"]

#: Money is accumulated as integers of 1/MONEY_SCALE of the currency unit.
MONEY_SCALE: Final = 10_000
#: Ratios are accumulated as integers of parts per million.
PPM: Final = 1_000_000


def money_units(amount: float) -> int:
    """An amount as exact integer units (4 decimals kept; finer fractions are rounded)."""
    return round(amount * MONEY_SCALE)


def from_money_units(units: int) -> float:
    """Integer money units back to an amount."""
    return units / MONEY_SCALE


def contributions(event: Event) -> dict[str, int]:
    """The accumulator increments one valid event causes (pure)."""
    out = {event.type.value: 1}
    data = event.data
    if event.type is EventType.DEAL_WON and isinstance(data, DealWonData):
        cur, units = data.currency, money_units(data.amount)
        out[f"won|{cur}"] = 1
        out[f"rev|{cur}"] = units
        out[f"revp|{cur}|{data.product}"] = units
        cycle = (event.occurred_at - data.created_at).total_seconds() if data.created_at else None
        if cycle is not None and cycle >= 0:
            out["cycle_s"] = round(cycle)
            out["cycle_n"] = 1
        else:
            out["cycle_excluded"] = 1
        if data.list_price:
            out["disc_ppm"] = round((data.list_price - data.amount) / data.list_price * PPM)
            out["disc_n"] = 1
    elif event.type is EventType.NPS_RESPONSE and isinstance(data, NpsData):
        bucket = "promoter" if data.score >= 9 else "passive" if data.score >= 7 else "detractor"
        out[f"nps_{bucket}"] = 1
    return out


def ramp_fact(event: Event) -> tuple[str, int] | None:
    """("hired", epoch) for rep.hired, ("first_win", epoch) for deal.won, else None.

    Both are kept as the earliest value seen per rep, so they are order-independent.
    """
    if event.type is EventType.REP_HIRED and isinstance(event.data, RepHiredData):
        hired = event.data.hired_at
        when = hired if isinstance(hired, datetime) else datetime.combine(hired, time(), UTC)
        return "hired", int(when.timestamp())
    if event.type is EventType.DEAL_WON:
        return "first_win", int(event.occurred_at.timestamp())
    return None
