"""The alert rules and notification policy of the config file (``alerts:`` and ``calendar:``).

Every timing knob of the alert rules lives here, validated at start-up with the
key named (``alerts.no_show.rep_after: expected a duration like 90s, 30m, 4h, 2d``).
Durations are written ``90s``, ``30m``, ``4h`` or ``2d``; times of day ``HH:MM``.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from spm_stream.metrics.table import COUNT_TARGETS
from spm_stream.time.worktime import WorkCalendar

__all__ = [
    "AlertRules",
    "CalendarConfig",
    "DigestRule",
    "Duration",
    "NoShowRule",
    "NotifyPolicy",
    "NudgeRule",
    "PaceRule",
    "QuietHours",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: object) -> timedelta:
    """ "90s", "30m", "4h", "2d" (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a duration like 90s, 30m, 4h or 2d")
    return timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _clock(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        hours, minutes = int(value[:2]), int(value[3:])
        if hours == 24 and minutes == 0:
            return time(0)
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError("expected a time of day HH:MM")


Clock = Annotated[time, BeforeValidator(_clock)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarConfig(_Strict):
    """Working days, hours and holidays; the zone is the person's (or the org's)."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    start: Clock = time(9)
    end: Clock = time(17)
    holidays: tuple[date, ...] = ()

    @field_validator("days")
    @classmethod
    def _some_days(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        if not days:
            raise ValueError("at least one working day is needed")
        return days

    def for_zone(self, zone: ZoneInfo) -> WorkCalendar:
        """The calendar in one person's zone."""
        try:
            return WorkCalendar(
                zone,
                frozenset(_WEEKDAYS.index(d) for d in self.days),
                self.start,
                self.end,
                frozenset(self.holidays),
            )
        except ValueError as exc:
            raise ValueError(f"calendar: {exc}") from None


class NoShowRule(_Strict):
    """The no-show watch of seed 001: who hears about an unrescheduled no-show, and when."""

    enabled: bool = True
    infer: bool = Field(default=True, description="Open a watch when booked+grace passes unheld.")
    grace: Duration = timedelta(hours=2)
    rep_after: Duration = Field(default=timedelta(hours=4), description="Working time to the DM.")
    manager_after: Duration = Field(
        default=timedelta(hours=4), description="Further working time to the manager alert."
    )
    expire_after: Duration = Field(
        default=timedelta(days=14), description="An open watch is dropped after this long."
    )
    report_rep_reschedules: bool = True


class PaceRule(_Strict):
    """The "behind target" alert: actual < expected * threshold on a metric."""

    enabled: bool = True
    metrics: tuple[str, ...] = ("calls", "meetings_booked", "quota")
    period: Literal["day", "week", "month", "quarter"] = "week"
    threshold: float = Field(default=0.8, gt=0, le=1)
    min_share: float = Field(
        default=0.2, ge=0, le=1, description="No alert before this share of the period elapsed."
    )
    every: Duration = timedelta(minutes=30)
    notify_resolved: bool = True

    @field_validator("metrics")
    @classmethod
    def _known(cls, metrics: tuple[str, ...]) -> tuple[str, ...]:
        for metric in metrics:
            if metric != "quota" and metric not in COUNT_TARGETS:
                raise ValueError(
                    f"unknown metric {metric!r} (expected quota or {', '.join(COUNT_TARGETS)})"
                )
        return metrics


class NudgeRule(_Strict):
    """The daily nudge to each rep: yesterday, this week's pace, today's actions."""

    enabled: bool = True
    at: Clock = time(9)


class DigestRule(_Strict):
    """The manager digest: team pace, reps at risk, open no-shows, top performers."""

    enabled: bool = True
    at: Clock = time(16)
    top: int = Field(default=3, ge=1, le=20)


class QuietHours(_Strict):
    """Local hours in which nothing is delivered (delayed until they end)."""

    start: Clock = time(20)
    end: Clock = time(8)


class NotifyPolicy(_Strict):
    """The notifier's guarantees, tuned (docs/slack-and-alerts.md)."""

    repeat_interval: Duration = Field(
        default=timedelta(hours=24), description="The same alert is not re-sent within this."
    )
    group_wait: Duration = Field(
        default=timedelta(seconds=30), description="Messages to one person within it go as one."
    )
    quiet_hours: QuietHours | None = QuietHours()
    working_hours_only: bool = Field(
        default=True, description="Hold messages to people until their working hours."
    )
    max_age: Duration = Field(
        default=timedelta(days=2), description="Older alerts are dropped (replays stay silent)."
    )
    channel_interval: Duration = Field(
        default=timedelta(seconds=1), description="Minimum gap between posts to one channel."
    )
    ops_channel: str | None = Field(
        default=None,
        pattern=r"^(#[a-z0-9_.-]+|[CGD][A-Z0-9]{2,})$",
        description="Where undeliverable alerts (no Slack id, bad template) are reported.",
    )


class AlertRules(_Strict):
    """Every rule and the notifier policy."""

    no_show: NoShowRule = NoShowRule()
    behind_target: PaceRule = PaceRule()
    nudge: NudgeRule = NudgeRule()
    digest: DigestRule = DigestRule()
    big_deal: dict[str, float] = Field(
        default_factory=dict, description="Celebrate a won deal at or above this, per currency."
    )
    notify: NotifyPolicy = NotifyPolicy()
