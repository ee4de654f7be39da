"""KPI reports: the per-scope report builder, and the offline ledger behind `spm-stream report`.

``scope_report`` is pure and shared by the live query (Redis) and the offline
report (a JSONL file), which both hand it a summed day accumulator; with the
same events the two give identical JSON. The offline ledger folds events the
way the counters agent does: same validation, same facts, same scopes, each
``event_id`` counted once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import Targets
from spm_stream.contract.events import InvalidEvent, parse_event
from spm_stream.counting.facts import contributions, ramp_fact
from spm_stream.counting.outcomes import Outcome, beats, outcome_of
from spm_stream.metrics.kpis import compute_kpis, ramp_days
from spm_stream.time.windows import Period, day_bucket, period_containing

__all__ = ["SCOPE_KINDS", "Ledger", "fold", "offline_report", "ramp_reps", "scope_report"]

SCOPE_KINDS = ("org", "team", "rep")


def ramp_reps(scope: str, scope_id: str, hired: Iterable[str], members: Iterable[str]) -> list[str]:
    """The reps whose ramp times make up a scope's ramp_days."""
    if scope == "rep":
        return [scope_id]
    return sorted(members) if scope == "team" else sorted(hired)


def scope_report(
    scope: str,
    scope_id: str,
    period: Period,
    acc: Mapping[str, int],
    *,
    hired: Mapping[str, int],
    first_win: Mapping[str, int],
    members: Iterable[str],
    targets: Targets,
    routing: Routing,
) -> dict[str, Any]:
    """The report object of one scope and period: its KPIs and the targets that apply."""
    # A rep inherits team targets through the people directory's team (order-independent).
    team = routing.team_of.get(scope_id) if scope == "rep" else None
    resolved = targets.for_scope(scope, scope_id, period.kind, team)
    reps = ramp_reps(scope, scope_id, hired, members)
    ramp = ramp_days(hired, first_win, reps, until=int(period.end.timestamp()))
    return {
        "scope": scope,
        "id": scope_id,
        "period": period.as_json(),
        "kpis": compute_kpis(acc, quota=resolved.get("quota"), ramp=ramp),
        "targets": resolved,
    }


@dataclass
class Ledger:
    """Day accumulators and ramp facts folded from events, in memory."""

    days: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)
    hired: dict[str, int] = field(default_factory=dict)
    first_win: dict[str, int] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    counted: int = 0
    duplicates: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    #: meeting -> the outcome it counts as, and the day keys it was counted in
    outcomes: dict[str, tuple[Outcome, list[tuple[str, str, str]]]] = field(default_factory=dict)

    def accumulate(self, scope: str, scope_id: str, period: Period) -> Counter[str]:
        """The sum of a scope's day accumulators over a period."""
        total: Counter[str] = Counter()
        for bucket in period.buckets():
            total.update(self.days.get((scope, scope_id, bucket), {}))
        return total

    def ids(self, scope: str) -> list[str]:
        """Every id of a scope kind seen in the events."""
        return sorted({sid for kind, sid, _ in self.days if kind == scope})


def fold(lines: Iterable[bytes], routing: Routing) -> Ledger:
    """Fold raw JSON lines into a ledger; invalid lines are counted with their reason."""
    ledger = Ledger()
    seen: set[str] = set()
    for raw in lines:
        if not raw.strip():
            continue
        try:
            event = parse_event(raw)
        except InvalidEvent as exc:
            ledger.rejected += 1
            ledger.reasons[exc.field or "(event)"] += 1
            continue
        if event.event_id in seen:
            ledger.duplicates += 1
            continue
        seen.add(event.event_id)
        ledger.counted += 1
        facts = contributions(event)
        days = [
            (scope.kind, scope.id, day_bucket(event.occurred_at, scope.zone))
            for scope in routing.scopes(event)
        ]
        outcome = outcome_of(event)
        if outcome is not None:  # one outcome per meeting (spm_stream.counting.outcomes)
            counted = ledger.outcomes.get(outcome.meeting_id)
            if not beats(outcome, counted[0] if counted else None):
                facts = {}
            else:
                if counted is not None:
                    for key in counted[1]:
                        ledger.days[key][counted[0].type] -= 1
                ledger.outcomes[outcome.meeting_id] = (outcome, days)
        for key in days:
            ledger.days.setdefault(key, Counter()).update(facts)
        ramp = ramp_fact(event)
        if ramp is not None:
            facts_of = ledger.hired if ramp[0] == "hired" else ledger.first_win
            facts_of[event.rep_id] = min(ramp[1], facts_of.get(event.rep_id, ramp[1]))
        team = routing.team_for(event)
        if team is not None:
            ledger.members.setdefault(team, set()).add(event.rep_id)
    return ledger


def offline_report(
    ledger: Ledger,
    *,
    kind: str,
    at: date,
    routing: Routing,
    targets: Targets,
    scope: str | None = None,
    scope_id: str | None = None,
) -> list[dict[str, Any]]:
    """Report objects for the requested scope and id (all of them when not given)."""
    kinds = [scope] if scope else list(SCOPE_KINDS)
    out = []
    for kind_of_scope in kinds:
        ids = [ORG] if kind_of_scope == "org" else ledger.ids(kind_of_scope)
        if scope_id is not None:
            ids = [scope_id]
        for sid in ids:
            period = period_containing(kind, at, routing.zone_of(kind_of_scope, sid))
            out.append(
                scope_report(
                    kind_of_scope,
                    sid,
                    period,
                    ledger.accumulate(kind_of_scope, sid, period),
                    hired=ledger.hired,
                    first_win=ledger.first_win,
                    members=ledger.members.get(sid, ()),
                    targets=targets,
                    routing=routing,
                )
            )
    return out
