"""The rules engine: no-show escalations, pace, celebrations, badges, contests, daily
nudges and manager digests, evaluated against the store at a given ``now``.

All its state is in the store (watches written by the counters agent, the firing
set of pace alerts, once-a-day markers), so a restart, a new rules process or a
new leader after a rebalance carries on where the last one stopped. ``tick``
takes ``now``; tests drive it with their own clock. It publishes before it
records, so an alert is never lost; one sent twice after a crash (published, then
the process died before recording it) is caught by the notifier's deduplication.
The worker runs it on the leader's timer (``agents/rules.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from spm_stream.config.directory import Directory
from spm_stream.config.scopes import ORG, Routing
from spm_stream.config.targets import ReloadingTargets
from spm_stream.ranking.contests import Contest, announcements_due
from spm_stream.ranking.gamification import earned_badges, points_by_bucket
from spm_stream.ranking.leaderboards import Pass, Row, passes, rank
from spm_stream.reports.query import contest_standings
from spm_stream.rules.alerts import Alert, Recipient
from spm_stream.rules.evaluate import (
    REFRESHED_AT_DELIVERY,
    RepDay,
    digest_alert,
    is_due_today,
    nudge_alert,
    pace_alerts,
    rep_paces,
    still_behind,
    yesterday_of,
)
from spm_stream.rules.noshow import Watch, advance
from spm_stream.store.port import StorePort
from spm_stream.time.windows import period_containing

__all__ = ["Publish", "RulesEngine"]

log = logging.getLogger("spm_stream.rules.engine")

Publish = Callable[[Sequence[Alert]], Awaitable[None]]


class RulesEngine:
    """Evaluates the time-driven rules against the store and publishes what they raise."""

    def __init__(
        self, store: StorePort, directory: Directory, targets: ReloadingTargets, publish: Publish
    ) -> None:
        self.store = store
        self.directory = directory
        self.targets = targets
        self.publish = publish
        self.rules = directory.alerts
        self.routing = Routing.from_directory(directory)
        self.calendar_of = functools.lru_cache(maxsize=4096)(directory.calendar_of)
        self._open_at: tuple[datetime, dict[str, list[Watch]]] | None = None

    async def tick(self, now: datetime) -> list[Alert]:
        """One evaluation of every rule at ``now``; returns the alerts published."""
        raised: list[Alert] = []
        if self.rules.no_show.enabled:
            raised += await self.no_shows(now)
        if self.rules.behind_target.enabled and await self.store.due(
            "pace", now.timestamp(), self.rules.behind_target.every.total_seconds()
        ):
            raised += await self.pace(now)
        if self.rules.nudge.enabled or self.rules.digest.enabled:
            raised += await self.daily(now)
        game = self.directory.gamification
        if game.enabled:
            raised += await self.contests(now)
        if game.enabled and game.celebrate.enabled:
            raised += await self.celebrations(now)
        if (
            game.enabled
            and game.badges
            and await self.store.due("badges", now.timestamp(), game.every.total_seconds())
        ):
            raised += await self.badges(now)
        return raised

    async def contests(self, now: datetime) -> list[Alert]:
        """Start, milestone and end announcements of every contest with a channel, once each."""
        raised: list[Alert] = []
        for contest in await self.store.contests():
            if contest.channel is None or contest.status(now) == "upcoming":
                continue
            done = {
                key
                for key in ("start", "end", *(f"milestone:{m}" for m in contest.milestones))
                if await self.store.was_raised(f"contest/{contest.id}/{key}")
            }
            due = announcements_due(contest, now, done)
            if not due:
                continue
            rows = await contest_standings(
                self.store,
                contest,
                routing=self.routing,
                points=self.directory.gamification.points,
            )
            for key in due:
                raised.append(self._contest_alert(contest, key, rows, now))
        if raised:
            await self.publish(raised)
            await self.store.mark_raised((a.identity for a in raised), ttl_s=400 * 86_400)
        return raised

    def _contest_alert(
        self, contest: Contest, key: str, rows: Sequence[Row], now: datetime
    ) -> Alert:
        names = (
            self.directory.display_name
            if contest.between == "reps"
            else lambda t: (self.directory.teams[t].name or t) if t in self.directory.teams else t
        )
        elapsed = (min(now, contest.end) - contest.start) / (contest.end - contest.start)
        data = {
            "event": key.split(":")[0],
            "contest": contest.id,
            "name": contest.name,
            "prize": contest.prize,
            "metric": contest.metric,
            "between": contest.between,
            "ends": contest.end.isoformat(),
            # A milestone says its own percent; the others how far the contest is.
            "percent": int(key.split(":")[1]) if ":" in key else round(elapsed * 100),
            "top": [{**r.as_json(), "name": names(r.rep_id)} for r in rows[: contest.top]],
        }
        assert contest.channel is not None
        return Alert("contest", contest.id, key, Recipient("channel", contest.channel), now, data)

    async def celebrations(self, now: datetime) -> list[Alert]:
        """Rank changes in the top of each team's boards, at most one per board per cooldown."""
        rule = self.directory.gamification.celebrate
        points = self.directory.gamification.points
        zone = self.directory.zone()
        period = period_containing(rule.period, now.astimezone(zone).date(), zone)
        points_of = points_by_bucket(points)

        raised: list[Alert] = []
        for team_id, team in sorted(self.directory.teams.items()):
            if not team.channel:
                continue
            days = await self.store.rep_days("team", team_id, period.buckets())
            for metric in rule.metrics:
                board_id = f"{metric}:{period.kind}:{period.first.isoformat()}:team:{team_id}"
                rows = rank(days, metric, 1, points_of)
                before = await self.store.ranking(board_id)
                found = passes(before, rows, rule.top) if before is not None else []
                if found and not await self.store.due(
                    f"celebrate:{board_id}", now.timestamp(), rule.cooldown.total_seconds()
                ):
                    continue  # in the cooldown: keep the old order, announce the net change later
                if found:
                    best = min(found, key=lambda p: p.rank)
                    raised.append(
                        self._pass_alert(best, board_id, metric, period.kind, team.channel, now)
                    )
                await self.store.set_ranking(board_id, [r.rep_id for r in rows])
        if raised:
            await self.publish(raised)
        return raised

    def _pass_alert(
        self, move: Pass, board_id: str, metric: str, kind: str, channel: str, now: datetime
    ) -> Alert:
        data = {
            "rep_id": move.rep_id,
            "passed": move.passed,
            "passed_name": self.directory.display_name(move.passed),
            "rank": move.rank,
            "metric": metric,
            "period": kind,
        }
        key = f"{board_id}:{move.rep_id}>{move.passed}"
        return Alert("rank.passed", move.rep_id, key, Recipient("channel", channel), now, data)

    async def badges(self, now: datetime) -> list[Alert]:
        """Award badges earned from the counted events; announce the recent ones, once.

        The earning day is a function of the events, so a rebuild from the log
        records the same days; awards older than ``notify.max_age`` are recorded
        without an announcement (a replay stays silent).
        """
        game = self.directory.gamification
        zone = self.directory.zone()
        today = now.astimezone(zone).date()
        buckets = [
            f"day:{(today - timedelta(days=back)).isoformat()}"
            for back in range(game.lookback_days - 1, -1, -1)
        ]
        days = await self.store.rep_days("org", ORG, buckets)
        awarded = await self.store.badges(sorted(days))
        targets = self.targets.current()
        fresh_after = (now - self.rules.notify.max_age).astimezone(zone).date()
        awards: list[tuple[str, str, str]] = []
        raised: list[Alert] = []
        for rep, rep_days in days.items():
            pending = {b: r for b, r in game.badges.items() if b not in awarded.get(rep, {})}
            if not pending:
                continue
            dated = [(date.fromisoformat(b.removeprefix("day:")), acc) for b, acc in rep_days]
            team = self.directory.team_of(rep)
            quota = {
                kind: targets.for_scope("rep", rep, kind, team).get("quota", {})
                for kind in ("day", "week", "month")
            }
            earned = earned_badges(dated, pending, game, self.calendar_of(rep), quota)
            # Each rep's check is a few ms of CPU: let the stream run between reps.
            await asyncio.sleep(0)
            for badge, day in sorted(earned.items()):
                awards.append((rep, badge, day.isoformat()))
                if day >= fresh_after:
                    raised.append(self._badge_alert(rep, badge, day, now))
        if raised:
            await self.publish(raised)
        await self.store.award(awards)
        return raised

    def _badge_alert(self, rep: str, badge: str, day: date, now: datetime) -> Alert:
        rule = self.directory.gamification.badges[badge]
        team = self.directory.team_of(rep)
        channel = self.directory.teams[team].channel if team else None
        # Recognition is public: the team channel when there is one, else a DM.
        recipient = Recipient("channel", channel) if channel else Recipient("person", rep)
        data = {"rep_id": rep, "badge": badge, "name": rule.name, "emoji": rule.emoji}
        return Alert("badge.earned", rep, badge, recipient, now, {**data, "day": day.isoformat()})

    async def no_shows(self, now: datetime) -> list[Alert]:
        """Advance the watches that are due; publish before recording, so nothing is lost.

        Escalations older than the notifier's ``max_age`` (a replayed history) are
        recorded without publishing: the notifier would drop them as expired anyway.
        """
        raised: list[Alert] = []
        moves: list[tuple[int, str, Watch | None]] = []
        stale_before = now - self.rules.notify.max_age
        stale = 0
        for partition, raw in await self.store.due_watches(now.timestamp()):
            watch = Watch.loads(raw)
            new, alerts = advance(
                watch,
                now,
                self.rules.no_show,
                self.calendar_of(watch.rep_id),
                self.directory.manager_of,
            )
            fresh = [self._linked(a) for a in alerts if a.raised_at >= stale_before]
            stale += len(alerts) - len(fresh)
            raised += fresh
            moves.append((partition, raw, new))
            await asyncio.sleep(0)  # a replayed backlog is thousands of watches: let the stream run
        if raised:
            await self.publish(raised)
        await self.store.advance_watches(moves)
        if stale:
            log.info("%d no-show escalation(s) older than max_age recorded, not sent", stale)
        return raised

    def _linked(self, alert: Alert) -> Alert:
        """A no-show alert with the link to its lead in the CRM (``crm.<crm>.record_url``)."""
        d = alert.data
        url = self.directory.crm.lead_url(d.get("source"), d.get("lead_id"), d["meeting_id"])
        return replace(alert, data={**d, "lead_url": url}) if url else alert

    async def pace(self, now: datetime) -> list[Alert]:
        """Behind-target alerts that started, and resolutions of those that stopped."""
        rule = self.rules.behind_target
        firing = await self.store.pace_firing()
        targets = self.targets.current()
        raised: list[Alert] = []
        started: set[str] = set()
        stopped: set[str] = set()
        for rep in self.directory.reps():
            cal = self.directory.calendar_of(rep)
            period = period_containing(rule.period, now.astimezone(cal.zone).date(), cal.zone)
            acc = await self.store.accumulate("rep", rep, period.buckets())
            wanted = targets.for_scope("rep", rep, rule.period, self.directory.team_of(rep))
            paces = rep_paces(acc, wanted, rule, period, now, cal)
            alerts, still = pace_alerts(rep, paces, rule, period, now, firing)
            before = {k for k in firing if k.startswith(f"{rep}|")}
            started |= still - before
            stopped |= before - still
            raised += alerts
        if raised:
            await self.publish(raised)
        await self.store.set_pace_firing(started, stopped)
        return raised

    async def current(self, alert: Alert, now: datetime) -> Alert | None:
        """An alert as it would be raised at ``now``, when it is delivered (a nudge raised
        before the morning's data arrived must not say "0 of 200"); None when its
        condition no longer holds. Alerts of other rules are returned as they are."""
        if alert.rule not in REFRESHED_AT_DELIVERY:
            return alert
        rule = self.rules.behind_target
        if alert.rule == "behind_target":
            rep = alert.subject
            cal = self.calendar_of(rep)
            period = period_containing(rule.period, now.astimezone(cal.zone).date(), cal.zone)
            acc = await self.store.accumulate("rep", rep, period.buckets())
            wanted = self.targets.current().for_scope(
                "rep", rep, rule.period, self.directory.team_of(rep)
            )
            return still_behind(alert, rep_paces(acc, wanted, rule, period, now, cal), period, rule)
        # One read of the watches per delivery round (every refresh of a round has its `now`),
        # not one per nudge: a morning delivers a nudge to every rep.
        if self._open_at is None or self._open_at[0] != now:
            self._open_at = (now, await self._open_no_shows())
        open_by_rep = self._open_at[1]
        today = date.fromisoformat(alert.key)
        if alert.rule == "nudge":
            day = await self._rep_day(alert.subject, now, open_by_rep.get(alert.subject, []))
            return replace(nudge_alert(day, today, rule, now), raised_at=alert.raised_at)
        reports = self.directory.reports_of(alert.subject)
        team = [await self._rep_day(r, now, open_by_rep.get(r, [])) for r in reports]
        fresh = digest_alert(alert.subject, today, team, rule, self.rules.digest.top, now)
        return replace(fresh, raised_at=alert.raised_at)

    async def _open_no_shows(self) -> dict[str, list[Watch]]:
        """Each rep's open no-show watches."""
        found: dict[str, list[Watch]] = defaultdict(list)
        for _, raw in await self.store.open_watches():
            w = Watch.loads(raw)
            if w.state == "no_show":
                found[w.rep_id].append(w)
        return found

    async def daily(self, now: datetime) -> list[Alert]:
        """Each rep's morning nudge and each manager's digest, once per local working day."""
        raised: list[Alert] = []
        days: dict[str, RepDay] = {}
        open_by_rep: dict[str, list[Watch]] | None = None

        async def rep_day(rep: str) -> RepDay:
            nonlocal open_by_rep
            if rep in days:
                return days[rep]
            if open_by_rep is None:
                open_by_rep = await self._open_no_shows()
            days[rep] = await self._rep_day(rep, now, open_by_rep.get(rep, []))
            return days[rep]

        if self.rules.nudge.enabled:
            for rep in self.directory.reps():
                today = is_due_today(self.directory.calendar_of(rep), self.rules.nudge.at, now)
                if today is not None and not await self.store.was_raised(f"nudge/{rep}/{today}"):
                    raised.append(
                        nudge_alert(await rep_day(rep), today, self.rules.behind_target, now)
                    )
        if self.rules.digest.enabled:
            for manager in self.directory.managers():
                cal = self.directory.calendar_of(manager)
                today = is_due_today(cal, self.rules.digest.at, now)
                reports = self.directory.reports_of(manager)
                if (
                    today is not None
                    and reports
                    and not await self.store.was_raised(f"digest/{manager}/{today}")
                ):
                    team = [await rep_day(rep) for rep in reports]
                    raised.append(
                        digest_alert(
                            manager,
                            today,
                            team,
                            self.rules.behind_target,
                            self.rules.digest.top,
                            now,
                        )
                    )
        if raised:
            await self.publish(raised)
            await self.store.mark_raised(a.identity for a in raised)
        return raised

    async def _rep_day(self, rep: str, now: datetime, open_no_shows: list[Watch]) -> RepDay:
        rule = self.rules.behind_target
        cal = self.directory.calendar_of(rep)
        today = now.astimezone(cal.zone).date()
        yesterday = yesterday_of(today, cal)
        period = period_containing(rule.period, today, cal.zone)
        week = period_containing("week", today, cal.zone)
        y_acc = await self.store.accumulate("rep", rep, [f"day:{yesterday.isoformat()}"])
        p_acc = await self.store.accumulate("rep", rep, period.buckets())
        w_acc = p_acc if week == period else await self.store.accumulate("rep", rep, week.buckets())
        wanted = self.targets.current().for_scope(
            "rep", rep, rule.period, self.directory.team_of(rep)
        )
        return RepDay(
            rep,
            self.directory.display_name(rep),
            dict(y_acc),
            rep_paces(p_acc, wanted, rule, period, now, cal),
            open_no_shows,
            dict(w_acc),
        )
