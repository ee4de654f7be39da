"""A generator of plausible CRM activity for the demo, tests and benchmarks.

Reps differ in skill; each outbound activity may become a meaningful
conversation (reach ≈ 40 %), a conversation a qualified lead (≈ 11 %), a lead a
forecast entry (≈ 73 %) and a booked meeting, held or a no-show; some deals
are won or lost. Seeded: the same seed gives the same stream. It also sends
what real CRMs send: an occasional duplicate (a webhook retry) and, if asked, a
malformed record.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

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
            "event_id": f"gen-{self._seq}",
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
            "notify": {"group_wait": "3s", "quiet_hours": None, "working_hours_only": False},
        },
    }


_WEEK: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
