"""The notifier at Slack's limits and over long outages, against real Redis and the local
Slack server (which refuses what Slack refuses): one message with "+N more" instead of a
flood, texts cut to Block Kit's sizes, one bad alert not taking its group down, token
errors surfaced, stale alerts expired at delivery, a bounded outbox, replayed clicks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from notifications import blockkit
from notifications.outbox import GROUP_LIMIT
from notifications.policy import backoff
from spm_stream.devtools.slack_server import Fault
from spm_stream.rules.alerts import Alert, Recipient
from tests.fixtures import accept
from tests.stack import Stack, berlin, people, quiet

pytestmark = pytest.mark.integration

NOW = berlin("2026-11-30T10:00:00")  # a Monday, inside working hours


def big_deal(n: int, rep: str = "rep-2", product: str = "Enterprise") -> Alert:
    return Alert(
        "deal.big",
        rep,
        f"d-{n}",
        Recipient("person", "mgr-1"),
        NOW - timedelta(minutes=60 - n),
        {
            "rep_id": rep,
            "deal_id": f"d-{n}",
            "amount": 1000 + n,
            "currency": "EUR",
            "product": product,
        },
    )


async def _stack(make_stack: Any, env: dict[str, str]) -> Stack:
    stack: Stack = await make_stack(people(env["SPM_TEST_TAG"], **quiet()))
    return stack


async def test_a_burst_is_one_message_with_the_rest_counted(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    for n in range(25):
        assert await accept(stack.notifier, big_deal(n), NOW) == "queued"
    done = await stack.notifier.deliver_due(NOW)
    (message,) = stack.messages("mgr-1")
    assert len(message.blocks) <= blockkit.MAX_BLOCKS
    assert "+15 more notifications" in json.dumps(message.blocks)
    shown = json.dumps(message.blocks)
    assert "1,024" in shown  # the newest ten (1,015 to 1,024) are shown
    assert "1,015" in shown
    assert "1,014" not in shown
    assert done.sent == 10
    await stack.notifier.deliver_due(NOW + timedelta(minutes=5))
    assert len(stack.messages("mgr-1")) == 1  # no second message for the backlog
    log = await stack.notifier.state.audit.log(limit=100)
    (counted,) = [e for e in log if e.status == "summarized"]
    assert len(counted.identities.split(",")) == 15


async def test_long_texts_are_cut_to_block_kit_limits(make_stack: Any, env: dict[str, str]) -> None:
    stack = await _stack(make_stack, env)
    await accept(stack.notifier, big_deal(1, product="P" * 5000), NOW)
    await stack.notifier.deliver_due(NOW)
    (message,) = stack.messages("mgr-1")  # accepted by a server that refuses what Slack does
    assert blockkit.problems(message.text, message.blocks) == []
    assert "…" in json.dumps(message.blocks, ensure_ascii=False)


async def test_the_local_slack_server_refuses_what_slack_refuses(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    client = stack.notifier.client
    assert client is not None
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    for blocks, why in [
        ([section] * 51, "no more than 50 items"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "151"),
        ([{**section, "text": {"type": "mrkdwn", "text": "y" * 3001}}], "3001"),
    ]:
        from slack_sdk.errors import SlackApiError

        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel="#ops", text="t", blocks=blocks)
        assert caught.value.response["error"] == "invalid_blocks"
        assert why in " ".join(caught.value.response["errors"])


async def test_invalid_blocks_loses_only_the_alert_that_caused_it(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    for n in range(3):
        await accept(stack.notifier, big_deal(n), NOW)
    # Slack refuses the grouped message once (as for one alert's bad blocks), then the
    # first of the alerts sent alone: the other two still arrive.
    stack.slack.state.faults += [
        Fault("chat.postMessage", 200, 2, error="invalid_blocks"),
    ]
    done = await stack.notifier.deliver_due(NOW)
    assert (done.sent, done.dropped) == (2, 1)
    assert len(stack.messages("mgr-1")) == 2


async def test_a_refused_token_fails_health_and_waits_in_the_outbox(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    await accept(stack.notifier, big_deal(1), NOW)
    stack.slack.state.faults.append(Fault("chat.postMessage", 200, 3, error="invalid_auth"))
    done = await stack.notifier.deliver_due(NOW)
    assert done.retried == 1
    assert stack.notifier.slack_error == "invalid_auth"
    assert await stack.notifier.outbox.pending() == 1  # not dropped
    # Fixed: the next delivery goes out and the error clears.
    stack.slack.state.faults.clear()
    await stack.notifier.deliver_due(NOW + timedelta(hours=1))
    assert stack.notifier.slack_error is None
    assert len(stack.messages("mgr-1")) == 1


def test_backoff_is_capped_for_any_attempt() -> None:
    assert backoff(45) == timedelta(minutes=10)
    assert backoff(10**6) == timedelta(minutes=10)
    assert backoff(1) == timedelta(seconds=5)


async def test_alerts_older_than_max_age_expire_at_delivery(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    await accept(stack.notifier, big_deal(1), NOW)
    stack.slack.state.faults.append(Fault("chat.postMessage", 503, 1))
    await stack.notifier.deliver_due(NOW)  # Slack is down; the alert waits
    done = await stack.notifier.deliver_due(NOW + timedelta(days=3))  # back, days later
    assert (done.sent, done.dropped) == (0, 1)
    assert stack.messages("mgr-1") == []
    log = await stack.notifier.state.audit.log(limit=10)
    assert any(e.status == "expired" for e in log)
    # Held over a weekend by quiet and working hours, an alert is not stale on Monday.
    friday_night = berlin("2026-11-27T21:00:00")
    await accept(stack.notifier, replace(big_deal(2), raised_at=friday_night), friday_night)
    done = await stack.notifier.deliver_due(berlin("2026-11-30T09:00:00"))
    assert done.sent == 1


async def test_the_outbox_holds_a_bounded_backlog_per_recipient(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    many = [big_deal(n) for n in range(GROUP_LIMIT + 3)]
    statuses = await stack.notifier.accept_many(many, NOW)
    assert statuses.count("queued") == GROUP_LIMIT
    assert statuses[-3:] == ["full", "full", "full"]


async def test_a_send_whose_answer_was_lost_is_found_in_history_and_not_sent_again(
    make_stack: Any, env: dict[str, str]
) -> None:
    """Slack posted the message, but the answer never came (the client timed out at 1 s):
    the next round finds it by its metadata and finishes the alert without a second post."""
    stack = await _stack(make_stack, env)
    await accept(stack.notifier, big_deal(1), NOW)
    stack.slack.state.faults.append(
        Fault("chat.postMessage", 200, 1, delay_s=2.0, lost_answer=True)
    )
    done = await stack.notifier.deliver_due(NOW)
    assert (done.sent, done.retried) == (0, 1)
    (posted,) = stack.messages("mgr-1")
    assert posted.metadata["event_type"] == "spm_alert"
    assert posted.metadata["event_payload"]["identities"] == [big_deal(1).identity]
    done = await stack.notifier.deliver_due(NOW + timedelta(minutes=5))
    assert done.sent == 1
    assert len(stack.messages("mgr-1")) == 1  # found, not sent again
    assert await stack.notifier.outbox.pending() == 0
    log = await stack.notifier.state.audit.log(limit=20)
    (sent,) = [e for e in log if e.status == "sent"]
    assert "found in the channel's history" in sent.reason
    methods = [c["method"] for c in stack.slack.state.calls[-3:]]
    assert methods == ["chat.postMessage", "conversations.open", "conversations.history"]


async def test_a_send_that_timed_out_before_slack_had_it_is_sent_once(
    make_stack: Any, env: dict[str, str]
) -> None:
    stack = await _stack(make_stack, env)
    await accept(stack.notifier, big_deal(1), NOW)
    # Slack stalls and then fails: nothing was posted, and the client could not know.
    stack.slack.state.faults.append(Fault("chat.postMessage", 500, 1, delay_s=2.0))
    await stack.notifier.deliver_due(NOW)
    assert stack.messages("mgr-1") == []
    done = await stack.notifier.deliver_due(NOW + timedelta(minutes=5))
    assert done.sent == 1
    (message,) = stack.messages("mgr-1")
    assert message.metadata["event_payload"]["identities"] == [big_deal(1).identity]


async def test_an_unknown_outcome_in_a_channel_named_by_name_is_sent_again_not_lost(
    make_stack: Any, env: dict[str, str]
) -> None:
    """conversations.history needs a channel id: for a "#name" the notifier cannot look the
    send up, and falls back to at least once (documented), never to holding the alert."""
    stack = await _stack(make_stack, env)
    channel = f"#deals-{env['SPM_TEST_TAG']}"
    alert = replace(big_deal(1), recipient=Recipient("channel", channel))
    await accept(stack.notifier, alert, NOW)
    stack.slack.state.faults.append(
        Fault("chat.postMessage", 200, 1, delay_s=2.0, lost_answer=True)
    )
    await stack.notifier.deliver_due(NOW)
    done = await stack.notifier.deliver_due(NOW + timedelta(minutes=5))
    assert done.sent == 1
    posted = [
        m
        for m in stack.slack.state.messages.values()
        if m.channel == stack.slack.state.channel_id(channel)
    ]
    assert len(posted) == 2
    assert await stack.notifier.outbox.pending() == 0
