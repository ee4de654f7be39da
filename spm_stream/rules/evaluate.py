"""Rule evaluation: from events, KPIs, targets and watches to alerts (pure).

The rules timer and the counters agent feed these functions what they read;
what comes back is plain ``Alert`` values for the alerts topic. Nothing here
knows about Redis, Kafka or Slack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from spm_stream.contract.events import DealWonData, Event, EventType, MeetingRescheduledData
from spm_stream.metrics.kpis import compute_kpis
from spm_stream.rules.alerts import Alert, Recipient
from spm_stream.rules.config import AlertRules, PaceRule
from spm_stream.rules.noshow import Watch
from spm_stream.rules.pacing import Pace, pace
from spm_stream.time.windows import Period
from spm_stream.time.worktime import WorkCalendar

__all__ = [
    "ALERTING_TYPES",
    "REFRESHED_AT_DELIVERY",
    "FiringKey",
    "RepDay",
    "digest_alert",
    "event_alerts",
    "is_due_today",
    "metric_actual",
    "nudge_alert",
    "pace_alerts",
    "rep_paces",
    "still_behind",
    "yesterday_of",
]

#: (rep, metric, period id) of a "behind target" alert that is firing.
FiringKey = str

#: What a nudge reports about yesterday, by accumulator field.
_DAY_FIELDS = {
    "calls": "activity.call",
    "emails": "activity.email",
    "meetings_booked": "meeting.booked",
    "meetings_held": "meeting.held",
    "deals_won": "deal.won",
}


#: The types that can raise an alert by themselves (``event_alerts`` is empty for the
#: rest): a reschedule by the rep, a big won deal.
ALERTING_TYPES: Final = frozenset({EventType.MEETING_RESCHEDULED, EventType.DEAL_WON})


def event_alerts(
    event: Event, rules: AlertRules, manager_of: Callable[[str], str | None]
) -> list[Alert]:
    """Alerts one event raises by itself: a reschedule by the rep, a big won deal."""
    data = event.data
    out: list[Alert] = []
    if (
        isinstance(data, MeetingRescheduledData)
        and data.initiated_by == "rep"
        and rules.no_show.report_rep_reschedules
        and (manager := manager_of(event.rep_id)) is not None
    ):
        # Seed 001: four of five leads whose meeting the rep moved are lost.
        out.append(
            Alert(
                "reschedule.by_rep",
                event.rep_id,
                f"{data.meeting_id}@{data.scheduled_for.isoformat()}",
                Recipient("person", manager),
                event.occurred_at,
                {
                    "rep_id": event.rep_id,
                    "meeting_id": data.meeting_id,
                    "scheduled_for": data.scheduled_for.isoformat(),
                },
            )
        )
    if event.type is EventType.DEAL_WON and isinstance(data, DealWonData):
        floor = rules.big_deal.get(data.currency)
        if floor is not None and data.amount >= floor and (manager := manager_of(event.rep_id)):
            out.append(
                Alert(
                    "deal.big",
                    event.rep_id,
                    data.deal_id,
                    Recipient("person", manager),
                    event.occurred_at,
                    {
                        "rep_id": event.rep_id,
                        "deal_id": data.deal_id,
                        "amount": data.amount,
                        "currency": data.currency,
                        "product": data.product,
                    },
                )
            )
    return out


def metric_actual(metric: str, acc: Mapping[str, int], currency: str | None = None) -> float:
    """A paced metric's actual from a period accumulator (quota: revenue in ``currency``)."""
    kpis = compute_kpis(acc)
    if metric == "quota":
        revenue: Mapping[str, float] = kpis["total_revenue"]
        return float(revenue.get(currency or "", 0.0))
    return float(kpis[metric] or 0)


def rep_paces(
    acc: Mapping[str, int],
    targets: Mapping[str, Any],
    rule: PaceRule,
    period: Period,
    now: datetime,
    cal: WorkCalendar,
) -> list[Pace]:
    """The pace of every configured metric that has a target for this rep and period."""
    return metric_paces(acc, targets, rule.metrics, period, now, cal)


def metric_paces(
    acc: Mapping[str, int],
    targets: Mapping[str, Any],
    metrics: Iterable[str],
    period: Period,
    now: datetime,
    cal: WorkCalendar,
) -> list[Pace]:
    """The pace of each of ``metrics`` that has a target (``quota``: one per currency)."""
    out: list[Pace] = []
    for metric in metrics:
        if metric == "quota":
            for currency, amount in sorted((targets.get("quota") or {}).items()):
                actual = metric_actual("quota", acc, currency)
                out.append(pace(f"quota|{currency}", actual, amount, period, now, cal))
        elif metric in targets:
            target = float(targets[metric])
            out.append(pace(metric, metric_actual(metric, acc), target, period, now, cal))
    return out


def pace_alerts(
    rep_id: str,
    paces: Sequence[Pace],
    rule: PaceRule,
    period: Period,
    now: datetime,
    firing: Iterable[FiringKey],
) -> tuple[list[Alert], set[FiringKey]]:
    """Behind-target alerts that start firing, resolutions of those that stopped, and the new
    firing set of this rep. Nothing fires before ``min_share`` of the period has elapsed."""
    period_id = f"{period.kind}:{period.first.isoformat()}"
    before = {key for key in firing if key.startswith(f"{rep_id}|")}
    now_firing: set[FiringKey] = set()
    alerts: list[Alert] = []
    for p in paces:
        key = f"{rep_id}|{p.metric}|{period_id}"
        was = key in before
        # Once firing, keep firing until caught up even if the share is below min_share again.
        behind = p.behind(rule.threshold) and (was or p.share >= rule.min_share)
        if behind:
            now_firing.add(key)
        data = {"rep_id": rep_id, "period": period.as_json(), **p.as_json()}
        if behind and not was:
            alerts.append(
                Alert(
                    "behind_target",
                    rep_id,
                    f"{p.metric}@{period_id}",
                    Recipient("person", rep_id),
                    now,
                    data,
                )
            )
        elif was and not behind and rule.notify_resolved:
            alerts.append(
                Alert(
                    "behind_target.resolved",
                    rep_id,
                    f"{p.metric}@{period_id}",
                    Recipient("person", rep_id),
                    now,
                    data,
                )
            )
    return alerts, now_firing


@dataclass(frozen=True, slots=True)
class RepDay:
    """What a nudge or digest says about one rep."""

    rep_id: str
    name: str
    yesterday: Mapping[str, int]
    paces: Sequence[Pace]
    open_no_shows: Sequence[Watch]
    week: Mapping[str, int]

    def behind(self, threshold: float, min_share: float) -> list[Pace]:
        """Paced metrics on which the rep is behind."""
        return [p for p in self.paces if p.share >= min_share and p.behind(threshold)]

    def as_json(self, threshold: float, min_share: float) -> dict[str, Any]:
        """Plain data for templates."""
        return {
            "rep_id": self.rep_id,
            "name": self.name,
            "yesterday": {name: self.yesterday.get(f, 0) for name, f in _DAY_FIELDS.items()},
            "week": {name: self.week.get(f, 0) for name, f in _DAY_FIELDS.items()},
            "paces": [p.as_json() for p in self.paces],
            "behind": [p.as_json() for p in self.behind(threshold, min_share)],
            "open_no_shows": [
                {
                    "meeting_id": w.meeting_id,
                    "lead_id": w.lead_id,
                    "opened_at": w.opened_at.isoformat() if w.opened_at else None,
                }
                for w in self.open_no_shows
            ],
        }


#: Rules whose numbers are read again when the message goes out: an alert raised at
#: 07:00 and delivered at 09:00 shows the 09:00 numbers, or is withdrawn.
REFRESHED_AT_DELIVERY: Final = frozenset({"behind_target", "nudge", "digest"})


def still_behind(
    alert: Alert, paces: Sequence[Pace], period: Period, rule: PaceRule
) -> Alert | None:
    """A behind-target alert checked again at delivery: with the numbers of now, or None
    when the rep caught up or the period it was raised for is over."""
    metric, _, period_id = alert.key.partition("@")
    if f"{period.kind}:{period.first.isoformat()}" != period_id:
        return None
    pace = next((p for p in paces if p.metric == metric), None)
    if pace is None or not pace.behind(rule.threshold):
        return None
    data = {"rep_id": alert.subject, "period": period.as_json(), **pace.as_json()}
    return replace(alert, data=data)


def nudge_alert(day: RepDay, today: date, rule: PaceRule, raised_at: datetime) -> Alert:
    """The morning nudge: yesterday's numbers, this week's pace, and today's actions."""
    data = day.as_json(rule.threshold, rule.min_share)
    actions: list[dict[str, Any]] = []
    if day.open_no_shows:
        actions.append({"kind": "reschedule", "count": len(day.open_no_shows)})
    for p in day.behind(rule.threshold, rule.min_share):
        shown = p.as_json()
        actions.append(
            {"kind": "catch_up", "metric": p.metric, "count": shown["gap"], "unit": p.unit}
        )
    data["actions"] = actions
    data["date"] = today.isoformat()
    return Alert(
        "nudge", day.rep_id, today.isoformat(), Recipient("person", day.rep_id), raised_at, data
    )


def digest_alert(
    manager_id: str,
    today: date,
    team: Sequence[RepDay],
    rule: PaceRule,
    top: int,
    raised_at: datetime,
) -> Alert:
    """The manager digest: team pace, reps at risk, open no-shows, top performers."""
    rows = [r.as_json(rule.threshold, rule.min_share) for r in team]
    by_metric: dict[str, list[Pace]] = {}
    for r in team:
        for p in r.paces:
            by_metric.setdefault(p.metric, []).append(p)
    team_pace = []
    for metric, paces in sorted(by_metric.items()):
        # Counts add up over the team; a rate of the team is the reps' mean, not their sum.
        n = len(paces) if paces[0].unit == "percent" else 1
        total = Pace(
            metric,
            sum(p.actual for p in paces) / n,
            sum(p.target for p in paces) / n,
            sum(p.expected for p in paces) / n,
            paces[0].share,
        )
        team_pace.append(total.as_json())
    ranked = sorted(
        rows,
        key=lambda r: (
            -r["week"]["deals_won"],
            -r["week"]["meetings_booked"],
            -r["week"]["calls"],
            r["rep_id"],
        ),
    )
    data = {
        "date": today.isoformat(),
        "team_pace": team_pace,
        "at_risk": [r for r in rows if r["behind"]],
        "open_no_shows": [r for r in rows if r["open_no_shows"]],
        "top": [r for r in ranked[:top] if any(r["week"].values())],
    }
    return Alert(
        "digest", manager_id, today.isoformat(), Recipient("person", manager_id), raised_at, data
    )


def is_due_today(cal: WorkCalendar, at_local: time, now: datetime) -> date | None:
    """The local date if today is a working day in ``cal`` and its clock has passed ``at_local``."""
    local = now.astimezone(cal.zone)
    day = local.date()
    if day.weekday() not in cal.days or day in cal.holidays or local.time() < at_local:
        return None
    return day


def yesterday_of(day: date, cal: WorkCalendar) -> date:
    """The previous working day (Monday's "yesterday" is Friday)."""
    for back in range(1, 15):
        candidate = day - timedelta(days=back)
        if candidate.weekday() in cal.days and candidate not in cal.holidays:
            return candidate
    return day - timedelta(days=1)
