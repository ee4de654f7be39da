"""Alerts and the notifier against real Redis and the local Slack server, on a test clock.

Events go through the production path (ingest → the store's Lua apply, which
writes the no-show watches); the rules engine and the notifier are driven with
an explicit ``now``, so escalation timings, quiet hours and retries are checked
to the minute without waiting for them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from notifications.slack import make_client
from spm_stream.config.settings import Settings
from spm_stream.devtools.embedded import free_port
from spm_stream.devtools.slack_server import Fault
from spm_stream.rules.alerts import Alert, Recipient
from spm_stream.rules.engine import RulesEngine
from tests.events import event
from tests.fixtures import SlackFixture, accept, run_cli
from tests.stack import Stack, berlin, people, quiet

pytestmark = pytest.mark.integration


async def test_no_show_escalates_to_rep_then_manager_exactly_on_working_time(
    make_stack: Any, env: dict[str, str]
) -> None:
    tag = env["SPM_TEST_TAG"]
    stack: Stack = await make_stack(people(tag, **quiet()))
    # Friday 15:00 Berlin: 2 working hours left today, 2 more on Monday -> DM Monday 11:00.
    friday = berlin("2026-11-27T15:00:00")
    await stack.events(
        event(f"{tag}-ns", "meeting.no_show", at=friday.isoformat(), meeting_id="m-1"), now=friday
    )
    assert await stack.tick(berlin("2026-11-30T10:59:00")) == []
    assert stack.messages("rep-1") == []

    # A fresh engine (a restart, or another leader after a rebalance) reads the same watch.
    stack.engine = RulesEngine(
        stack.store, stack.directory, stack.engine.targets, stack.engine.publish
    )
    raised = await stack.tick(berlin("2026-11-30T11:00:00"))
    assert [a.rule for a in raised] == ["no_show.rep"]
    (dm,) = stack.messages("rep-1")
    assert "No-Show" in dm.text  # the rep's locale is de
    assert await stack.tick(berlin("2026-11-30T14:59:00")) == []
    raised = await stack.tick(berlin("2026-11-30T15:00:00"))
    assert [a.rule for a in raised] == ["no_show.manager"]
    (alert,) = stack.messages("mgr-1")
    assert "Ana" in alert.text
    # Nothing more, ever: one DM, one manager alert.
    await stack.tick(berlin("2026-12-03T12:00:00"))
    assert len(stack.messages("rep-1")) == 1
    assert len(stack.messages("mgr-1")) == 1


async def test_a_no_show_dm_names_the_lead_and_links_to_the_crm(
    make_stack: Any, env: dict[str, str]
) -> None:
    """The booking names the lead; the no-show (which names none) keeps it; the DM shows
    the name as a link to the lead's page through crm.close.record_url."""
    tag = env["SPM_TEST_TAG"]
    config = people(tag, **quiet())
    config["crm"] = {"close": {"record_url": "https://app.close.com/lead/{lead_id}/"}}
    stack: Stack = await make_stack(config)
    monday = berlin("2026-11-30T09:00:00")

    def close_event(event_id: str, etype: str, **data: Any) -> bytes:
        body = json.loads(event(event_id, etype, rep="rep-2", at=monday.isoformat(), **data))
        return json.dumps({**body, "source": "close"}).encode()

    await stack.events(
        close_event(
            f"{tag}-b",
            "meeting.booked",
            meeting_id="m-274",
            scheduled_for=monday.isoformat(),
            lead_id="lead_KLine 1",
            lead_name="KLine GmbH",
        ),
        close_event(f"{tag}-n", "meeting.no_show", meeting_id="m-274"),
        now=monday,
    )
    raised = await stack.tick(berlin("2026-11-30T13:00:00"))
    assert [a.rule for a in raised] == ["no_show.rep"]
    (dm,) = stack.messages("rep-2")
    body = json.dumps(dm.blocks)
    assert "<https://app.close.com/lead/lead_KLine%201/|KLine GmbH>" in body


async def test_reschedule_held_and_rebooking_close_the_watch(
    make_stack: Any, env: dict[str, str]
) -> None:
    tag = env["SPM_TEST_TAG"]
    stack: Stack = await make_stack(people(tag, **quiet(no_show={"report_rep_reschedules": False})))
    monday = berlin("2026-11-23T09:00:00")
    at = monday.isoformat()
    await stack.events(
        # m-1: no-show, then rescheduled by the prospect: closed.
        event(f"{tag}-1", "meeting.no_show", at=at, meeting_id="m-1"),
        event(
            f"{tag}-2",
            "meeting.rescheduled",
            at=berlin("2026-11-23T10:00:00").isoformat(),
            meeting_id="m-1",
            scheduled_for=berlin("2026-11-26T10:00:00").isoformat(),
            initiated_by="prospect",
        ),
        # m-2 booked for lead L-2, no-show; a new booking m-3 for the same lead closes it.
        event(
            f"{tag}-3",
            "meeting.booked",
            at=at,
            meeting_id="m-2",
            lead_id="L-2",
            scheduled_for=berlin("2026-11-23T09:30:00").isoformat(),
        ),
        event(
            f"{tag}-4",
            "meeting.no_show",
            at=berlin("2026-11-23T09:45:00").isoformat(),
            meeting_id="m-2",
        ),
        event(
            f"{tag}-5",
            "meeting.booked",
            at=berlin("2026-11-23T10:30:00").isoformat(),
            meeting_id="m-3",
            lead_id="L-2",
            scheduled_for=berlin("2026-11-30T10:00:00").isoformat(),
        ),
        # m-4 held after all: a late "booked" (older event time) cannot reopen it.
        event(
            f"{tag}-6",
            "meeting.held",
            at=berlin("2026-11-23T12:00:00").isoformat(),
            meeting_id="m-4",
        ),
        event(
            f"{tag}-7",
            "meeting.booked",
            at=at,
            meeting_id="m-4",
            scheduled_for=berlin("2026-11-23T11:00:00").isoformat(),
        ),
        now=monday,
    )
    # By Wednesday every escalation would have been due; none is raised.
    assert await stack.tick(berlin("2026-11-25T12:00:00")) == []
    assert stack.messages("rep-1") == []
    assert stack.messages("mgr-1") == []
    # m-1's new time passes unheld on Thursday: an inferred no-show, DM 4 working hours later.
    raised = await stack.tick(berlin("2026-11-26T16:00:00"))
    assert [(a.rule, a.key) for a in raised] == [("no_show.rep", "m-1")]
    assert raised[0].data["inferred"] is True


async def test_a_rep_initiated_reschedule_is_reported_to_the_manager(
    make_stack: Any, env: dict[str, str]
) -> None:
    tag = env["SPM_TEST_TAG"]
    stack: Stack = await make_stack(people(tag, **quiet()))
    now = berlin("2026-11-24T10:00:00")
    moved = event(
        f"{tag}-r",
        "meeting.rescheduled",
        rep="rep-2",
        at=now.isoformat(),
        meeting_id="m-9",
        scheduled_for=berlin("2026-11-27T14:00:00").isoformat(),
        initiated_by="rep",
    )
    await stack.events(moved, now=now)
    await stack.events(moved, now=now)  # a redelivery of the same event: the identity dedupes
    await stack.notifier.deliver_due(now)
    (message,) = stack.messages("mgr-1")
    assert "Ben" in message.text
    assert "27 14:00" in message.blocks[1]["text"]["text"]  # the manager's wall clock


async def test_quiet_hours_and_working_hours_delay_but_never_drop(
    make_stack: Any, env: dict[str, str]
) -> None:
    tag = env["SPM_TEST_TAG"]
    rules = quiet()
    rules["notify"] = {"group_wait": "30s", "quiet_hours": {"start": "20:00", "end": "08:00"}}
    stack: Stack = await make_stack(people(tag, **rules))
    friday_night = berlin("2026-11-27T21:00:00")
    for key in ("a", "b", "c"):
        await accept(
            stack.notifier,
            Alert(
                "deal.big",
                "rep-1",
                key,
                Recipient("person", "mgr-1"),
                friday_night,
                {
                    "rep_id": "rep-1",
                    "deal_id": key,
                    "amount": 1e5,
                    "currency": "EUR",
                    "product": "p",
                },
            ),
            friday_night,
        )
    await stack.notifier.deliver_due(berlin("2026-11-30T08:59:00"))
    assert stack.messages("mgr-1") == []
    await stack.notifier.deliver_due(berlin("2026-11-30T09:00:00"))
    # Grouped: one message with all three, in order.
    (message,) = stack.messages("mgr-1")
    assert [b["type"] for b in message.blocks].count("divider") == 2
    assert message.text.count("Ana") == 3


async def test_nothing_lost_nothing_duplicated_through_slack_faults(
    make_stack: Any, env: dict[str, str], slack: SlackFixture
) -> None:
    tag = env["SPM_TEST_TAG"]
    stack: Stack = await make_stack(people(tag, **quiet()))
    now = berlin("2026-11-24T10:00:00")

    async def raise_for(person: str, key: str) -> None:
        alert = Alert(
            "deal.big",
            "rep-1",
            key,
            Recipient("person", person),
            now,
            {"rep_id": "rep-1", "deal_id": key, "amount": 1, "currency": "EUR", "product": "p"},
        )
        assert await accept(stack.notifier, alert, now) == "queued"

    # 429 twice with Retry-After: the client waits once, then the outbox waits the rest.
    slack.state.faults[:] = [Fault("chat.postMessage", 429, count=2, retry_after=1)]
    await raise_for("rep-1", "k1")
    done = await stack.notifier.deliver_due(now)
    assert (done.sent, done.retried) == (0, 1)
    assert (await stack.notifier.deliver_due(now + timedelta(milliseconds=999))).sent == 0
    assert (await stack.notifier.deliver_due(now + timedelta(seconds=1))).sent == 1

    # 500s and a timeout: exponential backoff 5 s, 10 s, 20 s.
    slack.state.faults[:] = [
        Fault("chat.postMessage", 500, count=2),
        Fault("chat.postMessage", 500, count=1, delay_s=3),
    ]
    await raise_for("rep-2", "k2")
    t = now
    for wait in (0, 5, 10):
        t += timedelta(seconds=wait)
        assert (await stack.notifier.deliver_due(t)).retried == 1
    assert (await stack.notifier.deliver_due(t + timedelta(seconds=19))).sent == 0
    assert (await stack.notifier.deliver_due(t + timedelta(seconds=20))).sent == 1

    # A long outage: Slack unreachable for hours. Everything waits in the outbox.
    alive = stack.notifier.client
    stack.notifier.client = make_client(
        Settings(slack_token="xoxb-x", slack_base_url=f"http://127.0.0.1:{free_port()}/api/"),
        outbox=True,
        timeout=1,
    )
    for i in range(5):
        await raise_for("mgr-1", f"out-{i}")
    t = now
    for _ in range(12):  # twelve failed rounds, backoff capped at 10 minutes
        t += timedelta(minutes=10)
        await stack.notifier.deliver_due(t)
    assert stack.messages("mgr-1") == []
    assert await stack.notifier.outbox.pending() == 1
    stack.notifier.client = alive  # Slack is back
    await stack.notifier.deliver_due(t + timedelta(minutes=10))
    (grouped,) = stack.messages("mgr-1")
    assert grouped.text.count("Ana") == 5

    # A permanent error for one recipient: dropped, reported; the others still go.
    slack.state.faults[:] = [Fault("chat.postMessage", 200, count=1, error="channel_not_found")]
    await raise_for("rep-1", "k3")
    await raise_for("rep-2", "k4")
    later = t + timedelta(hours=1)
    await stack.notifier.deliver_due(later)
    assert len(stack.messages("rep-2")) == 2
    log = [
        e for e in await stack.notifier.state.audit.log(recipient="rep-1") if e.recipient == "rep-1"
    ]
    assert log[-1].status == "undeliverable"
    assert "channel_not_found" in log[-1].reason

    # Every identity delivered at most once, and nothing left behind.
    assert len(stack.messages("rep-1")) == 1  # k1 only; k3 was undeliverable
    left = await stack.notifier.outbox.due(later + timedelta(days=9))
    assert left == [], [await stack.notifier.outbox.group(g) for g in left]
    # Re-raising a delivered alert within the repeat interval is a duplicate.
    alert = Alert("deal.big", "rep-1", "k1", Recipient("person", "rep-1"), now, {})
    assert await accept(stack.notifier, alert, later) == "duplicate"


async def test_dedupe_holds_across_a_restart_and_expires_with_the_repeat_interval(
    make_stack: Any, env: dict[str, str]
) -> None:
    tag = env["SPM_TEST_TAG"]
    now = berlin("2026-11-24T10:00:00")  # in working hours: delivered at once

    def big(key: str) -> Alert:
        data = {"rep_id": "rep-1", "deal_id": key, "amount": 1, "currency": "EUR", "product": "p"}
        return Alert("deal.big", "rep-1", key, Recipient("person", "rep-1"), now, data)

    # Held across a restart: the interval is long enough that a slow start-up on
    # a loaded CI machine cannot let it lapse (it is real Redis time).
    config = people(tag, **quiet(notify={"repeat_interval": "60s"}))
    first: Stack = await make_stack(config)
    await accept(first.notifier, big("held"), now)
    await first.notifier.deliver_due(now)
    restarted: Stack = await make_stack(config)  # new process state, same Redis
    assert await accept(restarted.notifier, big("held"), now) == "duplicate"
    sent_key = restarted.notifier.state.sent.key(big("held").identity)
    ttl_ms = await restarted.store.redis.pttl(sent_key)  # the delivery log's entry
    assert 0 < ttl_ms <= 60_000

    # Expires with the interval: the delivery log's TTL is the repeat interval.
    short: Stack = await make_stack(people(tag, **quiet(notify={"repeat_interval": "1s"})))
    await accept(short.notifier, big("lapses"), now)
    await short.notifier.deliver_due(now)
    await asyncio.sleep(1.1)
    assert await accept(short.notifier, big("lapses"), now) == "queued"


async def test_silences_mute_and_undeliverable_people_are_reported(
    make_stack: Any, env: dict[str, str], slack: SlackFixture
) -> None:
    tag = env["SPM_TEST_TAG"]
    ops = f"#ops-{tag}"
    stack: Stack = await make_stack(people(tag, **quiet(notify={"ops_channel": ops})))
    now = berlin("2026-11-24T10:00:00")
    state = stack.notifier.state
    silence = await state.silences.add(
        now + timedelta(hours=1),
        rule="deal.*",
        subject="rep-1",
        comment="on holiday",
        created_by="test",
        now=now,
    )
    alert = Alert("deal.big", "rep-1", "s", Recipient("person", "mgr-1"), now, {})
    assert await accept(stack.notifier, alert, now) == "silenced"
    assert await state.silences.remove(silence.id)
    to_noid = Alert("no_show.rep", "rep-3", "m", Recipient("person", "rep-3"), now, {})
    assert await accept(stack.notifier, to_noid, now) == "undeliverable"
    ops_id = slack.state.channel_id(ops)
    (report,) = [m for m in slack.state.messages.values() if m.channel == ops_id]
    assert "rep-3 has no slack_id" in report.text
    statuses = [(e.status, e.recipient) for e in await state.audit.log(since=now)]
    assert ("silenced", "mgr-1") in statuses
    assert ("undeliverable", "rep-3") in statuses


async def test_pace_nudge_and_digest(make_stack: Any, env: dict[str, str]) -> None:
    tag = env["SPM_TEST_TAG"]
    rules = quiet(
        nudge={"enabled": True, "at": "09:00"},
        digest={"enabled": True, "at": "16:00"},
        behind_target={"enabled": True, "metrics": ["calls"], "every": "0s"},
    )
    stack: Stack = await make_stack(people(tag, **rules), {"defaults": {"calls": {"week": 40}}})
    monday = berlin("2026-11-23T10:00:00")
    # Ana: 30 calls on Monday (ahead); Ben: 2 (behind by Tuesday afternoon); one open no-show.
    calls = [event(f"{tag}-a{i}", rep="rep-1", at=monday.isoformat()) for i in range(30)]
    calls += [event(f"{tag}-b{i}", rep="rep-2", at=monday.isoformat()) for i in range(2)]
    calls.append(
        event(f"{tag}-ns", "meeting.no_show", rep="rep-2", at=monday.isoformat(), meeting_id="m-1")
    )
    await stack.events(*calls, now=monday)

    raised = await stack.tick(berlin("2026-11-24T09:00:00"))  # Tuesday morning
    nudges = {a.subject: a for a in raised if a.rule == "nudge"}
    assert set(nudges) == {"rep-1", "rep-2", "rep-3"}
    assert nudges["rep-2"].data["yesterday"]["calls"] == 2
    assert {"kind": "reschedule", "count": 1} in nudges["rep-2"].data["actions"]
    # 8 of 40 working hours: 8 calls expected; Ben (2) and Noid (0) are behind, Ana is not.
    behind = sorted(a.subject for a in raised if a.rule == "behind_target")
    assert behind == ["rep-2", "rep-3"]
    assert "Guten Morgen, Ana" in stack.texts("rep-1")[0]
    # Ben's nudge and his pace alert, raised together, reach him as one message.
    (bens,) = stack.messages("rep-2")
    assert "Good morning, Ben" in bens.text
    assert "Behind pace on Calls" in bens.text
    assert "No-show still not rescheduled" in bens.text  # the DM was due Monday 14:00
    # Later the same day: no second nudge and no repeated pace alert; only the no-show
    # escalates to the manager (Monday 10:00 + 4 + 4 working hours = Tuesday 10:00).
    later = await stack.tick(berlin("2026-11-24T15:00:00"))
    assert [(a.rule, a.subject) for a in later] == [("no_show.manager", "rep-2")]
    assert len(stack.messages("rep-2")) == 1
    digest = [a for a in await stack.tick(berlin("2026-11-24T16:00:00")) if a.rule == "digest"]
    assert [d.subject for d in digest] == ["mgr-1"]
    assert [r["rep_id"] for r in digest[0].data["at_risk"]] == ["rep-2", "rep-3"]
    assert [r["rep_id"] for r in digest[0].data["open_no_shows"]] == ["rep-2"]
    assert digest[0].data["top"][0]["rep_id"] == "rep-1"
    no_show_alert, digest_message = stack.messages("mgr-1")
    assert "Ben" in no_show_alert.text
    assert "Ben" in digest_message.blocks[2]["text"]["text"]

    # Ben catches up: the alert resolves and he hears it.
    more = [
        event(f"{tag}-c{i}", rep="rep-2", at=berlin("2026-11-24T16:30:00").isoformat())
        for i in range(20)
    ]
    await stack.events(*more, now=berlin("2026-11-24T16:30:00"))
    raised = await stack.tick(berlin("2026-11-24T16:40:00"))
    assert [(a.rule, a.subject) for a in raised] == [("behind_target.resolved", "rep-2")]
    assert "Back on pace" in stack.texts("rep-2")[-1]


async def test_delayed_alerts_show_the_numbers_of_their_delivery(
    make_stack: Any, env: dict[str, str]
) -> None:
    """Raised at 07:00 before the morning's data, delivered at 09:00 (working hours): the
    nudge and the pace alert say what is true at 09:00, and an alert whose rep caught up
    meanwhile is withdrawn instead of delivered."""
    tag = env["SPM_TEST_TAG"]
    rules = quiet(
        nudge={"enabled": True, "at": "07:00"},
        behind_target={"enabled": True, "metrics": ["calls"], "every": "0s", "min_share": 0},
    )
    rules["notify"]["working_hours_only"] = True
    stack: Stack = await make_stack(people(tag, **rules), {"defaults": {"calls": {"week": 200}}})
    tuesday_7 = berlin("2026-11-24T07:00:00")
    raised = await stack.tick(tuesday_7)
    ben = [a for a in raised if a.subject == "rep-2" and a.rule == "behind_target"]
    assert ben[0].data["actual"] == 0  # what was true at 07:00
    assert stack.messages("rep-2") == []  # held until working hours
    # The CRM's overnight sync lands at 08:00: Ben has 50 calls this week, Ana 150.
    at = berlin("2026-11-23T15:00:00").isoformat()
    calls = [event(f"{tag}-b{i}", rep="rep-2", at=at) for i in range(50)]
    calls += [event(f"{tag}-a{i}", rep="rep-1", at=at) for i in range(150)]
    await stack.events(*calls, now=berlin("2026-11-24T08:00:00"))
    await stack.notifier.deliver_due(berlin("2026-11-24T09:00:00"))
    (bens,) = stack.messages("rep-2")
    shown = json.dumps(bens.blocks, ensure_ascii=False)
    assert "50" in shown
    assert " 0 of 200" not in shown
    # Ana is ahead now: her pace alert is withdrawn; her nudge goes out with 150 calls.
    (anas,) = stack.messages("rep-1")
    assert "Hinter dem Plan" not in anas.text
    assert "150" in json.dumps(anas.blocks, ensure_ascii=False)
    log = await stack.notifier.state.audit.log(limit=100)
    withdrawn = [e for e in log if e.status == "withdrawn" and e.recipient == "rep-1"]
    assert [e.rules for e in withdrawn] == ["behind_target"]
    assert withdrawn[0].reason == "no longer true at delivery"


async def test_a_replayed_history_escalates_silently(make_stack: Any, env: dict[str, str]) -> None:
    tag = env["SPM_TEST_TAG"]
    stack: Stack = await make_stack(people(tag, **quiet()))
    long_ago = berlin("2026-11-02T10:00:00")
    await stack.events(
        event(f"{tag}-old", "meeting.no_show", at=long_ago.isoformat(), meeting_id="m-old"),
        now=long_ago,
    )
    # Three weeks later (a rebuild from the log): every step is long due, none is news.
    assert await stack.tick(berlin("2026-11-23T10:00:00")) == []
    assert stack.messages("rep-1") == []
    assert await stack.store.due_watches(berlin("2026-11-23T10:00:00").timestamp()) == []


async def test_a_template_failing_at_runtime_blocks_nobody(
    make_stack: Any, env: dict[str, str], tmp_path: Path
) -> None:
    tag = env["SPM_TEST_TAG"]
    stack: Stack = await make_stack(people(tag, **quiet()))
    (tmp_path / "big_deal.json.j2").write_text(
        '{% if a.amount > 100 %}{{ 1 // 0 }}{% endif %}{"text": "ok", "blocks": []}'
    )
    stack.notifier.templates_dir = tmp_path
    now = berlin("2026-11-24T10:00:00")
    for person, amount in (("rep-1", 1000), ("rep-2", 10)):
        data = {
            "rep_id": "rep-1",
            "deal_id": "d",
            "amount": amount,
            "currency": "EUR",
            "product": "p",
        }
        alert = Alert("deal.big", "rep-1", person, Recipient("person", person), now, data)
        await accept(stack.notifier, alert, now)
    await stack.notifier.deliver_due(now)
    assert stack.messages("rep-1") == []
    assert [m.text for m in stack.messages("rep-2")] == ["ok"]
    log = await stack.notifier.state.audit.log(recipient="rep-1")
    assert ("undeliverable", "template failed to render") in [(e.status, e.reason) for e in log]


async def test_badges_are_awarded_once_and_a_rebuild_is_identical_and_silent(
    make_stack: Any, env: dict[str, str], tmp_path: Path
) -> None:
    tag = env["SPM_TEST_TAG"]
    config = people(tag, **quiet())
    config["gamification"] = {
        "every": "0s",
        "badges": {
            "ten_calls": {"name": "10-call day", "when": "calls >= 10 over day"},
            "first_deal": {"name": "First deal", "when": "deals_won >= 1 over all"},
        },
    }
    stack: Stack = await make_stack(config)
    monday = berlin("2026-11-16T10:00:00")
    history = [event(f"{tag}-c{i}", rep="rep-1", at=monday.isoformat()) for i in range(10)] + [
        event(
            f"{tag}-w",
            "deal.won",
            rep="rep-2",
            at=(monday + timedelta(days=2)).isoformat(),
            deal_id="d-1",
            amount=100,
            currency="EUR",
            product="p",
        )
    ]
    await stack.events(*history, now=monday)
    raised = await stack.tick(berlin("2026-11-19T12:00:00"))
    badges = sorted((a.subject, a.key) for a in raised if a.rule == "badge.earned")
    # rep-1's 10-call day (Monday) is older than max_age (2 days): recorded, not announced.
    assert badges == [("rep-2", "first_deal")]
    assert "First deal" in stack.texts("rep-2")[0]
    assert [
        a for a in await stack.tick(berlin("2026-11-18T12:10:00")) if a.rule == "badge.earned"
    ] == []
    awarded = await stack.store.badges(["rep-1", "rep-2"])
    assert awarded == {"rep-1": {"ten_calls": "2026-11-16"}, "rep-2": {"first_deal": "2026-11-18"}}
    path = tmp_path / "badges.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    shown = run_cli(
        {**env, "SPM_CONFIG": str(path)}, "progress", "--rep", "rep-1", "--format", "json"
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["badges"] == [
        {"id": "ten_calls", "name": "10-call day", "earned": "2026-11-16"}
    ]

    # Flush this deployment's Redis state and replay the log: the same awards, no announcement.
    redis = stack.store.redis
    keys = [k async for k in redis.scan_iter(match=f"{env['SPM_REDIS_PREFIX']}:*")]
    await redis.delete(*keys)
    stack.offset = 0
    await stack.events(*history, now=berlin("2026-11-25T12:00:00"))
    raised = await stack.tick(berlin("2026-11-25T12:00:00"))
    assert [a for a in raised if a.rule == "badge.earned"] == []
    assert await stack.store.badges(["rep-1", "rep-2"]) == awarded
    assert len(stack.messages("rep-2")) == 1


async def test_rank_changes_are_celebrated_once_and_throttled(
    make_stack: Any, env: dict[str, str], slack: SlackFixture
) -> None:
    tag = env["SPM_TEST_TAG"]
    config = people(tag, **quiet())
    config["teams"]["t1"]["channel"] = f"#t1-{tag}"
    config["gamification"] = {
        "badges": {},
        "celebrate": {"metrics": ["calls"], "period": "week", "top": 3, "cooldown": "10m"},
    }
    stack: Stack = await make_stack(config)
    now = berlin("2026-11-24T10:00:00")

    async def calls(rep: str, n: int, start: int) -> None:
        await stack.events(
            *[event(f"{tag}-{rep}-{start + i}", rep=rep, at=now.isoformat()) for i in range(n)],
            now=now,
        )

    await calls("rep-2", 5, 0)
    await calls("rep-1", 3, 0)
    assert await stack.tick(now) == []  # the first look only remembers the order
    await calls("rep-1", 4, 3)  # Ana 7 > Ben 5
    raised = await stack.tick(now + timedelta(minutes=1))
    assert [(a.rule, a.subject, a.data["passed"], a.data["rank"]) for a in raised] == [
        ("rank.passed", "rep-1", "rep-2", 1)
    ]
    channel = slack.state.channel_id(f"#t1-{tag}")
    (message,) = [m for m in slack.state.messages.values() if m.channel == channel]
    assert "Ana passed Ben for #1 in Calls" in message.text
    # Ben takes it back within the cooldown: no see-saw of messages.
    await calls("rep-2", 5, 5)
    assert await stack.tick(now + timedelta(minutes=3)) == []
    # After the cooldown the net change is announced once.
    raised = await stack.tick(now + timedelta(minutes=12))
    assert [(a.subject, a.data["passed"]) for a in raised] == [("rep-2", "rep-1")]
    assert await stack.tick(now + timedelta(minutes=30)) == []


async def test_contest_announced_at_start_milestone_and_end_with_the_winner(
    make_stack: Any, env: dict[str, str], slack: SlackFixture, tmp_path: Path
) -> None:
    tag = env["SPM_TEST_TAG"]
    config = people(tag, **quiet())
    config["gamification"] = {"badges": {}, "celebrate": {"enabled": False}}
    stack: Stack = await make_stack(config)
    path = tmp_path / "contest-people.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    cli_env = {**env, "SPM_CONFIG": str(path)}
    created = run_cli(
        cli_env, "contest", "create", "--id", "blitz", "--name", "Call blitz", "--metric", "calls",
        "--start", "2026-11-23T09:00", "--end", "2026-11-27", "--prize", "Dinner for two",
        "--channel", f"#sales-{tag}", "--milestones", "50",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    again = run_cli(
        cli_env, "contest", "create", "--id", "blitz", "--name", "X", "--metric", "calls",
        "--start", "2026-11-23", "--end", "2026-11-24",
    )  # fmt: skip
    assert again.returncode == 2
    assert "exists already" in again.stderr

    channel = slack.state.channel_id(f"#sales-{tag}")

    def posts() -> list[str]:
        found = [m for m in slack.state.messages.values() if m.channel == channel]
        return [m.text for m in sorted(found, key=lambda m: m.ts)]

    monday = berlin("2026-11-23T09:00:00")
    await stack.tick(monday - timedelta(minutes=1))
    assert posts() == []
    await stack.tick(monday)
    assert posts() == ["Call blitz has started!"]
    for rep, n in (("rep-1", 12), ("rep-2", 15)):
        await stack.events(
            *[event(f"{tag}-{rep}-{i}", rep=rep, at=monday.isoformat()) for i in range(n)],
            now=monday,
        )
    await stack.tick(berlin("2026-11-25T21:00:00"))  # half of Mon 09:00 .. Sat 00:00
    await stack.tick(berlin("2026-11-25T22:00:00"))
    assert posts()[1:] == ["Call blitz: 50% of the time is gone"]
    await stack.tick(berlin("2026-11-28T00:00:00"))
    assert posts()[2:] == ["Call blitz is over"]
    final = [m for m in slack.state.messages.values() if m.channel == channel][-1]
    assert final.blocks[2]["text"]["text"].startswith("*The winners*\n:first_place_medal: Ben")
    standings = run_cli(cli_env, "contest", "standings", "blitz", "--format", "json")
    assert standings.returncode == 0, standings.stderr
    body = json.loads(standings.stdout)
    assert [(r["rep_id"], r["value"]) for r in body["standings"]] == [
        ("rep-2", 15.0),
        ("rep-1", 12.0),
    ]
