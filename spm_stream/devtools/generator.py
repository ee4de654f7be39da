"""A generator of plausible CRM activity for the demo, tests and benchmarks.

Reps differ in skill; each outbound activity may become a meaningful
conversation (reach ≈ 40 %), a conversation a qualified lead (≈ 11 %), a lead a
forecast entry (≈ 73 %) and a booked meeting, held or a no-show; some deals
are won or lost. Seeded: the same seed gives the same stream. It also sends
what real CRMs send: an occasional duplicate (a webhook retry) and, if asked, a
malformed record.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson

__all__ = ["Generator", "Rep", "demo_directory"]

_PRODUCTS = (("basic", 25.0), ("premium", 50.0), ("enterprise", 1000.0))
_FIRST_NAMES = (
    "Ana",
    "Ben",
    "Chloé",
    "Dev",
    "Emil",
    "Fatima",
    "Gao",
    "Hanna",
    "Ivo",
    "Jana",
    "Kai",
    "Lena",
    "Mo",
    "Nora",
    "Otto",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tia",
)


@dataclass(frozen=True, slots=True)
class Rep:
    """A generated rep."""

    rep_id: str
    team_id: str
    name: str
    skill: float


class Generator:
    """Seeded stream of canonical events as JSON bytes keyed by rep_id."""

    def __init__(
        self,
        teams: int = 3,
        reps_per_team: int = 5,
        seed: int = 7,
        duplicate_rate: float = 0.0,
        invalid_rate: float = 0.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.reps = [
            Rep(
                rep_id=f"rep-{t}{r:02d}",
                team_id=f"team-{t}",
                name=_FIRST_NAMES[(t * reps_per_team + r) % len(_FIRST_NAMES)],
                skill=round(self.rng.uniform(0.6, 1.4), 2),
            )
            for t in range(1, teams + 1)
            for r in range(1, reps_per_team + 1)
        ]
        self.duplicate_rate = duplicate_rate
        self.invalid_rate = invalid_rate
        self._seq = 0
        self._last: tuple[bytes, bytes] | None = None

    def _event(self, rep: Rep, etype: str, at: datetime, **data: Any) -> dict[str, Any]:
        self._seq += 1
        event: dict[str, Any] = {
            # The seed is part of the id: two generated streams never dedupe each other.
            "event_id": f"gen{self.seed}-{self._seq}",
            "type": etype,
            "occurred_at": at.isoformat(),
            "rep_id": rep.rep_id,
            "team_id": rep.team_id,
            "source": "generator",
        }
        if data:
            event["data"] = data
        return event

    def hires(self, at: datetime) -> list[tuple[bytes, bytes]]:
        """One rep.hired per rep, 30 to 300 days before ``at``."""
        out = []
        for rep in self.reps:
            hired = (at - timedelta(days=self.rng.randint(30, 300))).date().isoformat()
            event = self._event(rep, "rep.hired", at, hired_at=hired)
            out.append((rep.rep_id.encode(), orjson.dumps(event)))
        return out

    def _side_activity(self, rep: Rep, at: datetime) -> list[dict[str, Any]]:
        """The rarer events: demos, events, quotes, referrals, NPS answers."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return [self._event(rep, "activity.demo", at)]
        if roll < 0.04:
            return [self._event(rep, "activity.event_attended", at)]
        if roll < 0.06:
            quote = f"Q-{self._seq}"
            out = [self._event(rep, "quote.submitted", at, quote_id=quote)]
            if rng.random() < 0.4:
                out.append(self._event(rep, "quote.accepted", at, quote_id=quote))
            return out
        if roll < 0.07:
            kind = rng.choice(("referral.given", "referral.received"))
            return [self._event(rep, kind, at)]
        if roll < 0.09:
            return [self._event(rep, "nps.response", at, score=rng.choice(range(11)))]
        return []

    def _episode(self, rep: Rep, at: datetime) -> list[dict[str, Any]]:
        """One outbound touch and whatever it leads to."""
        rng = self.rng
        kind = rng.choices(("activity.call", "activity.email", "activity.social"), (55, 35, 10))[0]
        out = [*self._side_activity(rep, at), self._event(rep, kind, at)]
        if rng.random() >= min(0.9, 0.40 * rep.skill):
            return out
        out.append(self._event(rep, "conversation.meaningful", at))
        if rng.random() >= min(0.9, 0.11 * rep.skill):
            return out
        lead = f"L-{self._seq}"
        out.append(self._event(rep, "lead.qualified", at, lead_id=lead))
        meeting = f"M-{self._seq}"
        when = at + timedelta(days=rng.randint(1, 5))
        out.append(
            self._event(
                rep,
                "meeting.booked",
                at,
                meeting_id=meeting,
                scheduled_for=when.isoformat(),
                lead_id=lead,
            )
        )
        if rng.random() < 0.2:
            out.append(self._event(rep, "meeting.no_show", at, meeting_id=meeting))
            if rng.random() < 0.5:  # the other half waits for the no-show watch to escalate
                moved = at + timedelta(days=rng.randint(1, 7))
                out.append(
                    self._event(
                        rep,
                        "meeting.rescheduled",
                        at,
                        meeting_id=meeting,
                        scheduled_for=moved.isoformat(),
                        initiated_by=rng.choices(("rep", "prospect"), (2, 3))[0],
                    )
                )
            return out
        out.append(self._event(rep, "meeting.held", at, meeting_id=meeting))
        if rng.random() < 0.73:
            out.append(self._event(rep, "lead.in_forecast", at, lead_id=lead))
            product, price = rng.choice(_PRODUCTS)
            deal = f"D-{self._seq}"
            created = at - timedelta(days=rng.randint(5, 60))
            won = rng.random() < 0.36 * rep.skill
            deal_data: dict[str, Any] = {
                "deal_id": deal,
                "amount": price * rng.randint(1, 20),
                "currency": rng.choices(("USD", "EUR"), (4, 1))[0],
                "product": product,
            }
            if rng.random() < 0.95:  # some CRMs lose the creation date
                deal_data["created_at"] = created.isoformat()
            if won and rng.random() < 0.5:
                deal_data["list_price"] = round(deal_data["amount"] * rng.uniform(1.0, 1.3), 2)
            out.append(self._event(rep, "deal.won" if won else "deal.lost", at, **deal_data))
        return out

    def records(self, at: datetime) -> Iterator[tuple[bytes, bytes]]:
        """One episode's records as (key, value) bytes, with duplicates and rejects mixed in."""
        rng = self.rng
        if self._last is not None and rng.random() < self.duplicate_rate:
            yield self._last
        if rng.random() < self.invalid_rate:
            rep = rng.choice(self.reps)
            broken = self._event(rep, "activity.call", at)
            broken["occurred_at"] = at.replace(tzinfo=None).isoformat()  # no offset: rejected
            yield rep.rep_id.encode(), orjson.dumps(broken)
        rep = rng.choices(self.reps, [r.skill for r in self.reps])[0]
        for event in self._episode(rep, at):
            self._last = (rep.rep_id.encode(), orjson.dumps(event))
            yield self._last

    # -- day-by-day simulation (`spm-stream generate`) --------------------------------------

    def simulate(
        self, start: date, days: int, zone: ZoneInfo | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """``days`` days of activity from ``start``, in time order, as (key, value) records.

        Reps work Monday to Friday with a daily rhythm (a morning and an
        afternoon peak, a lunch dip), in proportion to their skill. A booked
        meeting happens on its day, held or a no-show (half of the no-shows are
        rescheduled, by the rep in 2 of 5 cases); a held meeting opens a deal
        that closes 1 to 8 weeks later (about 23 days on average, seed 004), won
        or lost. Whatever is still in the future at the end is left out.
        """
        tz = zone or ZoneInfo("UTC")
        pending: list[tuple[datetime, int, dict[str, Any]]] = []
        order = itertools.count()  # ties in time keep the order events were made in
        first = datetime.combine(start, time(8), tz)
        yield from self.hires(first)
        for offset in range(days):
            day = start + timedelta(days=offset)
            if day.weekday() < 5:
                for rep in self.reps:
                    for _ in range(max(0, round(self.rng.gauss(30 * rep.skill, 5)))):
                        for when, event in self._touch(rep, self._moment(day, tz), tz):
                            heapq.heappush(pending, (when, next(order), event))
            end_of_day = datetime.combine(day + timedelta(days=1), time(0), tz)
            while pending and pending[0][0] < end_of_day:
                _, _, event = heapq.heappop(pending)
                yield event["rep_id"].encode(), orjson.dumps(event)

    # Hour of day → relative activity: a morning peak, a lunch dip, an afternoon peak.
    _RHYTHM: Final = {8: 2, 9: 6, 10: 9, 11: 8, 12: 3, 13: 4, 14: 8, 15: 7, 16: 5, 17: 2}

    def _moment(self, day: date, tz: ZoneInfo) -> datetime:
        hour = self.rng.choices(list(self._RHYTHM), list(self._RHYTHM.values()))[0]
        return datetime.combine(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)), tz)

    def _slot(self, after: datetime, tz: ZoneInfo, days: tuple[int, int]) -> datetime:
        """A working-hours slot some days later (``days`` range; weekends skipped)."""
        day = after.astimezone(tz).date() + timedelta(days=self.rng.randint(*days))
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return datetime.combine(day, time(self.rng.randint(9, 16), self.rng.choice((0, 30))), tz)

    def _touch(self, rep: Rep, at: datetime, tz: ZoneInfo) -> list[tuple[datetime, dict[str, Any]]]:
        """One outbound touch and the future it sets off, as (when, event) pairs."""
        rng = self.rng
        out = [(at, e) for e in self._side_activity(rep, at)]
        kind = rng.choices(("activity.call", "activity.email", "activity.social"), (55, 35, 10))[0]
        out.append((at, self._event(rep, kind, at)))
        if rng.random() >= min(0.9, 0.40 * rep.skill):
            return out
        talked = at + timedelta(minutes=rng.randint(1, 20))
        out.append((talked, self._event(rep, "conversation.meaningful", talked)))
        if rng.random() >= min(0.9, 0.11 * rep.skill):
            return out
        lead, meeting = f"L-{self._seq}", f"M-{self._seq}"
        out.append((talked, self._event(rep, "lead.qualified", talked, lead_id=lead)))
        when = self._slot(talked, tz, (1, 5))
        booked = self._event(
            rep,
            "meeting.booked",
            talked,
            meeting_id=meeting,
            scheduled_for=when.isoformat(),
            lead_id=lead,
        )
        out.append((talked, booked))
        if rng.random() < 0.2:
            seen = when + timedelta(minutes=15)
            out.append((seen, self._event(rep, "meeting.no_show", seen, meeting_id=meeting)))
            if rng.random() >= 0.5:
                return out  # left for the no-show watch to escalate
            moved_at = _on_a_weekday(seen + timedelta(hours=rng.randint(1, 30)), tz)
            when = self._slot(moved_at, tz, (1, 4))
            by = rng.choices(("rep", "prospect"), (2, 3))[0]
            out.append(
                (
                    moved_at,
                    self._event(
                        rep,
                        "meeting.rescheduled",
                        moved_at,
                        meeting_id=meeting,
                        scheduled_for=when.isoformat(),
                        initiated_by=by,
                    ),
                )
            )
            if rng.random() < 0.2:
                return out  # lost after the reschedule (seed 001: most rep-moved leads are)
        out.append((when, self._event(rep, "meeting.held", when, meeting_id=meeting)))
        # 86 % of held meetings reach the forecast: 73 % of qualified leads (seed 001's pipe rate).
        if rng.random() >= 0.86:
            return out
        out.append((when, self._event(rep, "lead.in_forecast", when, lead_id=lead)))
        product, price = rng.choice(_PRODUCTS)
        deal = f"D-{self._seq}"
        amount = price * max(1, round(rng.lognormvariate(math.log(6), 0.7)))
        currency = rng.choices(("USD", "EUR"), (4, 1))[0]
        money = {"deal_id": deal, "amount": amount, "currency": currency}
        out.append((when, self._event(rep, "opportunity.created", when, **money)))
        cycle = timedelta(days=min(56, max(1, rng.gauss(23, 8))), hours=rng.randint(0, 8))
        closed = _on_a_weekday(when + cycle, tz)
        won = rng.random() < min(0.9, 0.36 * rep.skill)
        data: dict[str, Any] = {**money, "product": product, "created_at": when.isoformat()}
        if won and rng.random() < 0.5:
            data["list_price"] = round(amount * rng.uniform(1.0, 1.3), 2)
        out.append((closed, self._event(rep, "deal.won" if won else "deal.lost", closed, **data)))
        return out


def _on_a_weekday(moment: datetime, tz: ZoneInfo) -> datetime:
    """The same time of day, moved past a weekend (reps do not work then)."""
    while moment.astimezone(tz).weekday() >= 5:
        moment += timedelta(days=1)
    return moment


def demo_directory(gen: Generator, timezone: str = "UTC") -> dict[str, Any]:
    """A people directory (SPM_CONFIG contents) for the generator's teams, reps and managers.

    Its alert timings run in seconds instead of working hours, so a short demo
    shows no-show escalations, nudges and digests: every hour of the week is
    working time, there are no quiet hours, and nudges and digests are due at once.
    """
    teams = sorted({r.team_id for r in gen.reps})
    people: dict[str, Any] = {
        f"mgr-{t}": {"name": f"Manager {t.replace('team-', '')}", "slack_id": f"UMGR{i:03d}X"}
        for i, t in enumerate(teams)
    }
    people |= {
        r.rep_id: {
            "name": r.name,
            "team": r.team_id,
            "slack_id": f"U{r.rep_id.replace('rep-', '').upper()}XX",
        }
        for r in gen.reps
    }
    return {
        "timezone": timezone,
        "locale": "en",
        "calendar": {"days": list(_WEEK), "start": "00:00", "end": "24:00"},
        "teams": {
            t: {
                "name": t.replace("team-", "Team "),
                "channel": f"#sales-{t}",
                "manager": f"mgr-{t}",
            }
            for t in teams
        },
        "people": people,
        "alerts": {
            "no_show": {"rep_after": "10s", "manager_after": "10s"},
            "behind_target": {"metrics": ["calls"], "every": "15s", "min_share": 0.0},
            "nudge": {"at": "00:00"},
            "digest": {"at": "00:00"},
            "big_deal": {"USD": 50000, "EUR": 50000},
            # A minute's alerts to one person go as one message: managers see a few grouped
            # DMs, not one per no-show of the compressed day.
            "notify": {"group_wait": "60s", "quiet_hours": None, "working_hours_only": False},
        },
    }


_WEEK: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
