"""Points, streaks and badges, computed from the reps' day accumulators (pure).

Everything here is a function of the counted events, so flushing Redis and
replaying the log gives the same points, streaks and badge days. Configured in
``SPM_CONFIG`` under ``gamification:``; a badge rule that does not parse stops
start-up with the key named (``gamification.badges.ten_calls.when: …``).

- **Points**: points per event type, times any multiplier active that day
  (``double demo points this week``), capped per rep and day.
- **Streak**: consecutive working days on which a daily target was met, ending
  today (or yesterday, while today is still in progress).
- **Badges**: ``<metric> <op> <number> [over day|week|month|all]`` or
  ``streak >= N``; earned on the first day the condition held, once per rep.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from spm_stream.contract.events import EventType
from spm_stream.ranking.leaderboards import BoardMetric, check_metric, metric_value
from spm_stream.rules.config import Duration
from spm_stream.time.worktime import WorkCalendar

__all__ = [
    "BadgeRule",
    "Celebrate",
    "Condition",
    "Gamification",
    "earned_badges",
    "parse_condition",
    "points_by_bucket",
    "points_of_day",
    "streak",
    "streaks",
]

_CONDITION = re.compile(
    r"^\s*(?P<metric>[a-z_]+(?::[A-Z]{3})?)\s*(?P<op>>=|>|==|<=|<)\s*(?P<value>\d+(?:\.\d+)?)"
    r"(?:\s+over\s+(?P<window>day|week|month|all))?\s*$"
)
_TYPES: Final = frozenset(t.value for t in EventType)


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed badge rule."""

    metric: str  # a board metric, "points", "streak" or "quota" (attainment in %)
    op: str
    value: float
    window: Literal["day", "week", "month", "all"]

    def holds(self, actual: float | None) -> bool:
        """True when ``actual`` satisfies the comparison (no data never does)."""
        if actual is None:
            return False
        return {
            ">=": actual >= self.value,
            ">": actual > self.value,
            "==": actual == self.value,
            "<=": actual <= self.value,
            "<": actual < self.value,
        }[self.op]


def parse_condition(text: str) -> Condition:
    """Parse ``calls >= 10 over day`` / ``deals_won >= 1 over all`` / ``streak >= 5``."""
    match = _CONDITION.match(text)
    if match is None:
        raise ValueError(
            f"cannot parse {text!r}: expected '<metric> <op> <number> [over day|week|month|all]'"
        )
    metric, window = match["metric"], match["window"] or "all"
    if metric == "streak":
        if match["window"]:
            raise ValueError("a streak has no window: write 'streak >= 5'")
        window = "all"
    elif metric == "quota":
        if window == "all":
            raise ValueError("quota needs a window: 'quota >= 100 over month'")
    elif metric != "points":
        check_metric(metric)
    return Condition(metric, match["op"], float(match["value"]), window)  # type: ignore[arg-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _event_types(value: dict[str, float]) -> dict[str, float]:
    for name in value:
        if name not in _TYPES:
            raise ValueError(f"{name}: unknown event type")
    return value


class Multiplier(_Strict):
    """Points of one event type times ``factor`` on the days [start, end]."""

    type: str
    factor: float = Field(gt=0)
    start: date
    end: date

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in _TYPES:
            raise ValueError(f"unknown event type {value!r}")
        return value


class Points(_Strict):
    """Points per event type, multipliers and a daily cap."""

    per_event: Annotated[dict[str, float], AfterValidator(_event_types)] = Field(
        default_factory=lambda: {
            "activity.call": 1.0,
            "activity.email": 1.0,
            "conversation.meaningful": 3.0,
            "meeting.booked": 10.0,
            "meeting.held": 10.0,
            "deal.won": 50.0,
        }
    )
    multipliers: tuple[Multiplier, ...] = ()
    daily_cap: float | None = Field(default=200, gt=0)


class StreakRule(_Strict):
    """A working day counts toward the streak when ``metric`` reached ``daily_target``."""

    metric: BoardMetric = "calls"
    daily_target: float = Field(default=20, gt=0)


class BadgeRule(_Strict):
    """A badge: its name and the rule that earns it."""

    name: str
    when: str
    emoji: str = ":medal:"

    @field_validator("when")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_condition(value)
        return value

    @property
    def condition(self) -> Condition:
        """The parsed rule."""
        return parse_condition(self.when)


def _default_badges() -> dict[str, BadgeRule]:
    return {
        "first_deal": BadgeRule(name="First deal", when="deals_won >= 1 over all", emoji=":tada:"),
        "ten_call_day": BadgeRule(
            name="10-call day", when="calls >= 10 over day", emoji=":telephone_receiver:"
        ),
        "five_day_streak": BadgeRule(name="5-day streak", when="streak >= 5", emoji=":fire:"),
        "quota_month": BadgeRule(
            name="Quota reached", when="quota >= 100 over month", emoji=":dart:"
        ),
    }


class Celebrate(_Strict):
    """Rank changes announced in the team channel: "Ana passed Ben for #1 in calls"."""

    enabled: bool = True
    metrics: tuple[BoardMetric, ...] = ("calls", "meetings_booked", "deals_won")
    period: Literal["day", "week", "month", "quarter"] = "week"
    top: int = Field(default=3, ge=1, le=50)
    cooldown: Duration = Field(
        default=timedelta(minutes=10), description="At most one celebration per board this often."
    )


class Gamification(_Strict):
    """The ``gamification:`` section of ``SPM_CONFIG``."""

    enabled: bool = True
    points: Points = Points()
    streak: StreakRule = StreakRule()
    badges: dict[str, BadgeRule] = Field(default_factory=_default_badges)
    celebrate: Celebrate = Celebrate()
    lookback_days: int = Field(default=90, ge=7, le=400)
    every: Duration = Field(
        default=timedelta(minutes=5), description="How often badges are checked."
    )


def points_of_day(day: date, acc: Mapping[str, int], rules: Points) -> float:
    """A rep's points for one day: per event type, times active multipliers, capped."""
    total = 0.0
    for etype, per in rules.per_event.items():
        count = acc.get(etype, 0)
        if not count:
            continue
        factor = 1.0
        for m in rules.multipliers:
            if m.type == etype and m.start <= day <= m.end:
                factor *= m.factor
        total += count * per * factor
    return min(total, rules.daily_cap) if rules.daily_cap is not None else total


def points_by_bucket(rules: Points) -> Callable[[str, Mapping[str, int]], float]:
    """``points_of_day`` keyed by day bucket ("day:2026-11-23"), as boards and contests rank."""

    def points_of(bucket: str, acc: Mapping[str, int]) -> float:
        return points_of_day(date.fromisoformat(bucket.removeprefix("day:")), acc, rules)

    return points_of


def _day_value(metric: str, day: date, acc: Mapping[str, int], points: Points) -> float | None:
    if metric == "points":
        return points_of_day(day, acc, points)
    return metric_value(acc, metric)[0]


def streak(
    days: Sequence[tuple[date, Mapping[str, int]]],
    rule: StreakRule,
    points: Points,
    cal: WorkCalendar,
    today: date,
) -> int:
    """Consecutive working days up to today meeting the daily target; today counts once met,
    and does not break the streak while it is still in progress."""
    by_day = dict(days)
    earliest = min(by_day, default=today)
    count, day = 0, today
    while day >= earliest:
        if day.weekday() in cal.days and day not in cal.holidays:
            value = _day_value(rule.metric, day, by_day.get(day, {}), points)
            if value is not None and value >= rule.daily_target:
                count += 1
            elif day != today:
                break  # a missed working day ends the streak; days off do not
        day -= timedelta(days=1)
    return count


def streaks(
    days: Sequence[tuple[date, Mapping[str, int]]],
    rule: StreakRule,
    points: Points,
    cal: WorkCalendar,
) -> list[int]:
    """``streak`` as of each of ``days`` (sorted, one entry per date), in one pass.

    The badge rules ask for the streak on every day of a 90-day look-back; asking
    ``streak`` day by day walked the days back each time.
    """
    out: list[int] = []
    before = 0  # consecutive met working days up to yesterday (days off are transparent)
    previous: date | None = None
    for day, acc in days:
        gap = day if previous is None else previous + timedelta(days=1)
        while gap < day:  # dates without an entry are days with nothing done
            before = _next_streak(before, gap, {}, rule, points, cal)
            gap += timedelta(days=1)
        today = _next_streak(before, day, acc, rule, points, cal)
        # Today counts once met, and an unmet today does not break the streak yet.
        out.append(today or before)
        before, previous = today, day
    return out


def _next_streak(
    before: int,
    day: date,
    acc: Mapping[str, int],
    rule: StreakRule,
    points: Points,
    cal: WorkCalendar,
) -> int:
    if day.weekday() not in cal.days or day in cal.holidays:
        return before
    value = _day_value(rule.metric, day, acc, points)
    return before + 1 if value is not None and value >= rule.daily_target else 0


def _attainment(acc: Mapping[str, int], targets: Mapping[str, float]) -> float | None:
    """The best quota attainment in % over the currencies with a target, None without one."""
    done = [metric_value(acc, f"revenue:{cur}")[0] or 0.0 for cur in targets]
    if not targets:
        return None
    return max(value / target * 100 for value, target in zip(done, targets.values(), strict=True))


def earned_badges(
    days: Sequence[tuple[date, Mapping[str, int]]],
    badges: Mapping[str, BadgeRule],
    config: Gamification,
    cal: WorkCalendar,
    quota: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, date]:
    """Each badge's earning day: the first day (in order) on which its condition held.

    ``quota`` gives the rep's quota per window ("day", "week", "month": {currency: amount})
    for ``quota >= 100 over month``-style rules.
    """
    ordered = sorted(days)
    streak_on = (
        streaks(ordered, config.streak, config.points, cal)
        if any(b.condition.metric == "streak" for b in badges.values())
        else []
    )
    earned: dict[str, date] = {}
    running: Counter[str] = Counter()
    weeks: dict[tuple[int, int], Counter[str]] = {}
    months: dict[tuple[int, int], Counter[str]] = {}
    points_total = {"all": 0.0}
    week_points: dict[tuple[int, int], float] = {}
    month_points: dict[tuple[int, int], float] = {}
    for i, (day, acc) in enumerate(ordered):
        running.update(acc)
        wk, mo = day.isocalendar()[:2], (day.year, day.month)
        weeks.setdefault(wk, Counter()).update(acc)
        months.setdefault(mo, Counter()).update(acc)
        pts = points_of_day(day, acc, config.points)
        points_total["all"] += pts
        week_points[wk] = week_points.get(wk, 0.0) + pts
        month_points[mo] = month_points.get(mo, 0.0) + pts
        scope: dict[str, tuple[Mapping[str, int], float]] = {
            "day": (acc, pts),
            "week": (weeks[wk], week_points[wk]),
            "month": (months[mo], month_points[mo]),
            "all": (running, points_total["all"]),
        }
        for badge_id, badge in badges.items():
            if badge_id in earned:
                continue
            cond = badge.condition
            if cond.metric == "streak":
                actual: float | None = float(streak_on[i])
            elif cond.metric == "quota":
                actual = _attainment(scope[cond.window][0], (quota or {}).get(cond.window, {}))
            else:
                window_acc, window_points = scope[cond.window]
                actual = (
                    window_points
                    if cond.metric == "points"
                    else metric_value(window_acc, cond.metric)[0]
                )
            if cond.holds(actual):
                earned[badge_id] = day
    return earned
