"""CRM adapters: each CRM's documented payload shapes become the right canonical events.

The samples in examples/crm follow each CRM's webhook documentation; the
signatures are computed as the CRM computes them (tests/crm.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from spm_stream.config.directory import Directory
from spm_stream.config.settings import ConfigError
from spm_stream.crm.close import map_close
from spm_stream.crm.endpoints import remap
from spm_stream.crm.generic import MAX_EVENTS, Roster, map_canonical
from spm_stream.crm.hubspot import map_hubspot
from spm_stream.crm.mapping import CrmMappings, Owner
from spm_stream.crm.model import BadPayload, Mapped, Unauthorized, WebhookRequest
from spm_stream.crm.pipedrive import map_pipedrive
from spm_stream.crm.salesforce import map_salesforce
from spm_stream.crm.signatures import (
    verify_basic_auth,
    verify_bearer,
    verify_close,
    verify_hubspot_v3,
    verify_token,
)
from tests import crm

NOW = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)
MAPPINGS = CrmMappings.model_validate(crm.mapping_config())


def events(mapped: Mapped) -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in mapped.events]


def test_hubspot_won_deal_from_a_workflow_with_all_properties() -> None:
    mapped = map_hubspot(crm.sample("hubspot-deal-won.json"), MAPPINGS.hubspot, NOW, None)
    assert mapped.rejects == []
    assert events(mapped) == [
        {
            "event_id": "hubspot:deal:18230515874:deal.won",
            "type": "deal.won",
            "occurred_at": "2026-11-02T15:04:05+00:00",
            "rep_id": "rep-1",
            "source": "hubspot",
            "data": {
                "deal_id": "18230515874",
                "amount": 12500.0,
                "currency": "EUR",
                "product": "default",
                "created_at": "2026-10-10T06:00:00+00:00",
            },
        }
    ]
    assert mapped.events[0][0] == b"rep-1"


def test_hubspot_meeting_no_show_and_a_call_with_a_custom_body() -> None:
    no_show = events(
        map_hubspot(crm.sample("hubspot-meeting-no-show.json"), MAPPINGS.hubspot, NOW, None)
    )
    assert [(e["type"], e["occurred_at"], e["data"]) for e in no_show] == [
        ("meeting.no_show", "2026-11-02T14:00:00+00:00", {"meeting_id": "55120934122"})
    ]
    # A custom body names no object type: the call properties give it away.
    call = events(map_hubspot(crm.sample("hubspot-call.json"), MAPPINGS.hubspot, NOW, None))
    assert [(e["event_id"], e["type"]) for e in call] == [
        ("hubspot:call:61042318811:activity.call", "activity.call"),
        ("hubspot:call:61042318811:conversation.meaningful", "conversation.meaningful"),
    ]


def test_hubspot_subscription_batches_and_unknown_owners_are_rejected_with_reasons() -> None:
    mapped = map_hubspot(crm.sample("hubspot-subscription.json"), MAPPINGS.hubspot, NOW, None)
    assert mapped.events == []
    assert [r.field for r in mapped.rejects] == ["subscriptionType"]
    assert "workflow" in mapped.rejects[0].reason

    stranger = orjson.loads(crm.sample("hubspot-call.json")) | {"hubspot_owner_id": "999"}
    mapped = map_hubspot(orjson.dumps(stranger), MAPPINGS.hubspot, NOW, None)
    assert [(r.field, r.reason) for r in mapped.rejects] == [
        ("properties.hubspot_owner_id", "owner '999' is not in crm.hubspot.owners")
    ]
    # The dead letter keeps the CRM's own record, so it can be mapped again later.
    assert orjson.loads(mapped.rejects[0].payload) == stranger


def test_a_won_deal_without_an_amount_is_rejected_by_the_contract() -> None:
    deal = orjson.loads(crm.sample("hubspot-deal-won.json"))
    del deal["properties"]["amount"]
    mapped = map_hubspot(orjson.dumps(deal), MAPPINGS.hubspot, NOW, None)
    assert [(r.field, r.reason) for r in mapped.rejects] == [("data.amount", "Field required")]


def test_close_won_opportunity_value_is_in_cents() -> None:
    mapped = map_close(crm.sample("close-opportunity-won.json"), MAPPINGS.close, NOW)
    [won] = events(mapped)
    assert won["type"] == "deal.won"
    assert won["rep_id"] == "rep-2"
    assert won["data"]["amount"] == 1000.0
    assert won["data"]["currency"] == "USD"
    assert won["occurred_at"] == "2026-11-02T12:48:23.392000+00:00"
    assert (
        won["event_id"]
        == "close:opportunity:oppo_8H4sjNso7FyBFaeR3RXi5PMJbilfo0c6UPCxsJtEhCO:deal.won"
    )


def test_close_call_with_an_outcome_and_a_moved_meeting() -> None:
    call = events(map_close(crm.sample("close-call.json"), MAPPINGS.close, NOW))
    assert [(e["type"], e["occurred_at"]) for e in call] == [
        ("activity.call", "2026-11-02T09:24:15+00:00"),
        ("conversation.meaningful", "2026-11-02T09:24:15+00:00"),
    ]
    [moved] = events(map_close(crm.sample("close-meeting-rescheduled.json"), MAPPINGS.close, NOW))
    assert moved["type"] == "meeting.rescheduled"
    assert moved["data"] == {
        "meeting_id": "acti_MtgE9wQ0vPZ3Yx0m2kD7cS8aBnTf1",
        "scheduled_for": "2026-11-05T15:00:00+00:00",
        "initiated_by": "prospect",
    }


def test_close_completed_meeting_with_a_no_show_outcome_is_only_a_no_show() -> None:
    """Close marks a meeting completed once its time is over: the no-show outcome the rep
    set wins over that status (before, both held and no_show were emitted)."""
    mappings = CrmMappings.model_validate(
        {
            **crm.mapping_config(),
            "close": {
                "owners": {"user_N6KhMpzHRCYQHdn4gRNIFNN5JExnsrprKA6ekxM63XA": "rep-2"},
                "outcomes": {"outcome_noshow": "meeting.no_show"},
            },
        }
    )
    payload = orjson.loads(crm.sample("close-meeting-rescheduled.json"))
    payload["event"]["changed_fields"] = ["status", "outcome_id"]
    payload["event"]["data"] |= {"status": "completed", "outcome_id": "outcome_noshow"}
    mapped = events(map_close(orjson.dumps(payload), mappings.close, NOW))
    assert [e["type"] for e in mapped] == ["meeting.no_show"]
    # completed before the rep set an outcome: held (the store replaces it if a no-show follows)
    del payload["event"]["data"]["outcome_id"]
    assert [e["type"] for e in events(map_close(orjson.dumps(payload), mappings.close, NOW))] == [
        "meeting.held"
    ]


def test_pipedrive_v2_won_deal_and_v1_call_marked_done() -> None:
    [won] = events(map_pipedrive(crm.sample("pipedrive-deal-won-v2.json"), MAPPINGS.pipedrive, NOW))
    assert (won["type"], won["rep_id"], won["data"]["amount"], won["data"]["currency"]) == (
        "deal.won",
        "rep-3",
        4200.0,
        "EUR",
    )
    assert won["data"]["created_at"] == "2026-10-06T08:00:00+00:00"
    [call] = events(map_pipedrive(crm.sample("pipedrive-call-v1.json"), MAPPINGS.pipedrive, NOW))
    assert (call["type"], call["occurred_at"]) == ("activity.call", "2026-11-02T10:15:00+00:00")


def test_pipedrive_edits_that_change_nothing_we_count_are_ignored() -> None:
    payload = orjson.loads(crm.sample("pipedrive-deal-won-v2.json"))
    payload["previous"] = {"title": "old title"}  # v2 lists only what changed
    mapped = map_pipedrive(orjson.dumps(payload), MAPPINGS.pipedrive, NOW)
    assert (mapped.events, mapped.rejects, mapped.ignored) == ([], [], 1)


def test_salesforce_outbound_messages() -> None:
    [won] = events(
        map_salesforce(crm.sample("salesforce-opportunity-won.xml"), MAPPINGS.salesforce, NOW)
    )
    assert (won["rep_id"], won["team_id"], won["type"]) == ("rep-1", "t1", "deal.won")
    assert won["data"]["amount"] == 25000.0
    assert won["data"]["product"] == "New Customer"
    assert won["occurred_at"] == "2026-11-02T16:20:11+00:00"

    tasks = map_salesforce(crm.sample("salesforce-tasks.xml"), MAPPINGS.salesforce, NOW)
    assert [e["type"] for e in events(tasks)] == ["activity.call"]
    assert [(r.field, r.reason) for r in tasks.rejects] == [
        ("OwnerId", "owner '0055e000009UnKnAAK' is not in crm.salesforce.owners")
    ]
    # The reject is replayable: mapped again once the owner is known.
    fixed = MAPPINGS.salesforce.model_copy(
        update={"owners": {**MAPPINGS.salesforce.owners, "0055e000009UnKnAAK": Owner(rep="rep-2")}}
    )
    again = remap("salesforce", tasks.rejects[0].payload, CrmMappings(salesforce=fixed), NOW)
    assert [(e["type"], e["rep_id"]) for e in events(again)] == [("activity.email", "rep-2")]


def test_salesforce_refuses_other_orgs_and_dtds() -> None:
    body = crm.sample("salesforce-opportunity-won.xml").replace(
        b"00D5e000000KQ2eEAG", b"00D000000000001AAA"
    )
    with pytest.raises(Unauthorized):
        map_salesforce(body, MAPPINGS.salesforce, NOW)
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    # UTF-16 hides "<!DOCTYPE" from a byte search (a NUL after each ASCII byte).
    for encoded in (bomb.encode(), bomb.replace("1.0", '1.0" encoding="UTF-16').encode("utf-16")):
        mapped = map_salesforce(encoded, MAPPINGS.salesforce, NOW)
        assert mapped.events == []
        assert "DTD" in mapped.rejects[0].reason


@pytest.mark.parametrize(
    ("name", "mapper"),
    [
        ("hubspot-deal-won.json", lambda b: map_hubspot(b, MAPPINGS.hubspot, NOW, None)),
        ("close-opportunity-won.json", lambda b: map_close(b, MAPPINGS.close, NOW)),
        ("pipedrive-deal-won-v2.json", lambda b: map_pipedrive(b, MAPPINGS.pipedrive, NOW)),
        ("salesforce-opportunity-won.xml", lambda b: map_salesforce(b, MAPPINGS.salesforce, NOW)),
    ],
)
def test_a_crm_retry_maps_to_the_same_event_ids(name: str, mapper: Any) -> None:
    """Retries arrive later (another ``received`` time) but must dedupe: ids come from the CRM."""
    first = mapper(crm.sample(name))
    assert first.events
    assert first.events == mapper(crm.sample(name)).events


def test_generic_endpoint_accepts_one_event_an_array_or_json_lines() -> None:
    good = {
        "event_id": "e1",
        "type": "activity.call",
        "occurred_at": "2026-11-02T09:00:00Z",
        "rep_id": "rep-1",
    }
    bad = {**good, "event_id": "e2", "occurred_at": "2026-11-02T09:00:00"}
    assert len(map_canonical(orjson.dumps(good)).events) == 1
    mixed = map_canonical(orjson.dumps([good, bad]))
    assert (len(mixed.events), [r.field for r in mixed.rejects]) == (1, ["occurred_at"])
    lines = map_canonical(orjson.dumps(good) + b"\n{not json\n")
    assert (len(lines.events), len(lines.rejects)) == (1, 1)
    with pytest.raises(BadPayload):
        map_canonical(b"{not json")


def test_generic_endpoint_checks_reps_and_teams_against_the_directory() -> None:
    def call(i: int, rep: str, team: str | None = None) -> dict[str, str]:
        body = {"event_id": f"e{i}", "type": "activity.call", "rep_id": rep}
        return {
            **body,
            "occurred_at": "2026-11-02T09:00:00Z",
            **({"team_id": team} if team else {}),
        }

    roster = Roster(frozenset({"rep-1"}), frozenset({"t1"}))
    body = [call(1, "rep-1", "t1"), call(2, "rep-x"), call(3, "rep-1", "t9"), call(4, "rep-1")]
    mapped = map_canonical(orjson.dumps(body), roster)
    assert len(mapped.events) == 2
    assert [(r.field, r.reason.split(":")[0]) for r in mapped.rejects] == [
        ("rep_id", "unknown rep 'rep-x'"),
        ("team_id", "unknown team 't9'"),
    ]
    # Without a people file there is nothing to check against.
    assert len(map_canonical(orjson.dumps(body), Roster()).events) == 4


def test_generic_endpoint_refuses_more_than_max_events_whole() -> None:
    one = {"event_id": "e", "type": "activity.call", "occurred_at": "2026-11-02T09:00:00Z"}
    many = [{**one, "rep_id": f"r{i}"} for i in range(MAX_EVENTS + 1)]
    with pytest.raises(BadPayload, match=f"send at most {MAX_EVENTS} per request"):
        map_canonical(orjson.dumps(many))
    lines = b"\n".join(orjson.dumps(e) for e in many)
    with pytest.raises(BadPayload, match="1001 events in one request"):
        map_canonical(lines)
    assert len(map_canonical(orjson.dumps(many[:MAX_EVENTS])).events) == MAX_EVENTS


# --- signatures -----------------------------------------------------------------------------


def request(
    url: str, body: bytes, headers: dict[str, str], query: dict[str, str] | None = None
) -> WebhookRequest:
    return WebhookRequest("POST", url, headers, body, query or {})


def test_hubspot_v3_signature_valid_forged_stale_and_missing() -> None:
    url = "https://spm.example.com/webhooks/hubspot?object=deal"
    body = crm.sample("hubspot-deal-won.json")
    now_ms = int(NOW.timestamp() * 1000)
    ok = crm.hubspot_headers(url, body, at_ms=now_ms)
    verify_hubspot_v3(request(url, body, ok), crm.HUBSPOT_SECRET, NOW, 300)
    with pytest.raises(Unauthorized, match="mismatch"):
        verify_hubspot_v3(request(url, body + b" ", ok), crm.HUBSPOT_SECRET, NOW, 300)
    forged = crm.hubspot_headers(url, body, secret="not-the-secret", at_ms=now_ms)
    with pytest.raises(Unauthorized, match="mismatch"):
        verify_hubspot_v3(request(url, body, forged), crm.HUBSPOT_SECRET, NOW, 300)
    stale = crm.hubspot_headers(url, body, at_ms=now_ms - 301_000)
    with pytest.raises(Unauthorized, match="stale"):
        verify_hubspot_v3(request(url, body, stale), crm.HUBSPOT_SECRET, NOW, 300)
    with pytest.raises(Unauthorized, match="missing"):
        verify_hubspot_v3(request(url, body, {}), crm.HUBSPOT_SECRET, NOW, 300)


def test_hubspot_signs_the_uri_with_some_escapes_decoded() -> None:
    body = b"{}"
    now_ms = int(NOW.timestamp() * 1000)
    signed_as = "https://spm.example.com/webhooks/hubspot?from=a:b"
    headers = crm.hubspot_headers(signed_as, body, at_ms=now_ms)
    received = "https://spm.example.com/webhooks/hubspot?from=a%3Ab"
    verify_hubspot_v3(request(received, body, headers), crm.HUBSPOT_SECRET, NOW, 300)


def test_close_signature_matches_the_documented_scheme() -> None:
    body = crm.sample("close-call.json")
    at = int(NOW.timestamp())
    verify_close(request("u", body, crm.close_headers(body, at=at)), crm.CLOSE_KEY, NOW, 300)
    with pytest.raises(Unauthorized, match="stale"):
        verify_close(
            request("u", body, crm.close_headers(body, at=at - 3600)), crm.CLOSE_KEY, NOW, 300
        )
    tampered = crm.close_headers(body, at=at)
    with pytest.raises(Unauthorized, match="mismatch"):
        verify_close(
            request("u", body.replace(b"outbound", b"inbound"), tampered), crm.CLOSE_KEY, NOW, 300
        )


def test_basic_auth_bearer_and_token() -> None:
    verify_basic_auth(request("u", b"", crm.pipedrive_headers()), *crm.PIPEDRIVE_AUTH)
    for headers in (crm.pipedrive_headers(password="guess"), {}, {"Authorization": "Basic !!!"}):
        with pytest.raises(Unauthorized):
            verify_basic_auth(request("u", b"", headers), *crm.PIPEDRIVE_AUTH)
    verify_bearer(request("u", b"", {"authorization": "Bearer tok"}), "tok")
    with pytest.raises(Unauthorized):
        verify_bearer(request("u", b"", {"Authorization": "Bearer tik"}), "tok")
    verify_token(request("u", b"", {}, {"token": "s3"}), "s3")
    with pytest.raises(Unauthorized):
        verify_token(request("u", b"", {}, {"token": "s4"}), "s3")
    assert (
        base64.b64decode(crm.pipedrive_headers()["Authorization"][6:])
        == b"spm:pipedrive-webhook-pass"
    )


# --- mapping config ---------------------------------------------------------------------------


def test_mapping_config_names_the_bad_key(tmp_path: Path) -> None:
    from spm_stream.config.directory import load_directory

    def load(crm_section: dict[str, Any]) -> Directory:
        path = tmp_path / "spm.yaml"
        path.write_text(
            yaml.safe_dump({"people": {"rep-1": {}}, "teams": {"t1": {}}, "crm": crm_section})
        )
        return load_directory(path)

    assert load({"hubspot": {"owners": {41520873: "rep-1"}}}).crm.hubspot.owner("41520873") == (
        "rep-1",
        None,
    )
    with pytest.raises(ConfigError, match=r"crm\.close\.owners\.u1: unknown person 'rep-9'"):
        load({"close": {"owners": {"u1": "rep-9"}}})
    with pytest.raises(ConfigError, match=r"crm\.hubspot\.deal_stages\.closedwon"):
        load({"hubspot": {"deal_stages": {"closedwon": "deal.winning"}}})
    with pytest.raises(ConfigError, match=r"crm\.pipedrive\.owners\.1\.team: unknown team 'tx'"):
        load({"pipedrive": {"owners": {1: {"rep": "rep-1", "team": "tx"}}}})


# --- fuzzing: no input crashes a mapper; everything is an event, a reject or ignored -----------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=25,
)


def _mutations(name: str) -> st.SearchStrategy[bytes]:
    """A sample with one field replaced by arbitrary JSON, or arbitrary bytes."""
    base = orjson.loads(crm.sample(name))

    def mutate(path_pick: int, value: Any) -> bytes:
        doc = orjson.loads(orjson.dumps(base))
        node = doc[0] if isinstance(doc, list) else doc
        while isinstance(node, dict) and node:
            keys = sorted(node)
            key = keys[path_pick % len(keys)]
            if isinstance(node[key], dict) and path_pick % 3:
                node = node[key]
                path_pick //= 3
                continue
            node[key] = value
            break
        # The stdlib encoder also writes what orjson refuses (huge ints, NaN): more to chew on.
        return json.dumps(doc).encode()

    return st.builds(mutate, st.integers(0, 10_000), _json) | st.binary(max_size=200)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        [
            ("hubspot-deal-won.json", lambda b: map_hubspot(b, MAPPINGS.hubspot, NOW, None)),
            ("hubspot-meeting-no-show.json", lambda b: map_hubspot(b, MAPPINGS.hubspot, NOW, None)),
            ("close-opportunity-won.json", lambda b: map_close(b, MAPPINGS.close, NOW)),
            ("close-meeting-rescheduled.json", lambda b: map_close(b, MAPPINGS.close, NOW)),
            ("pipedrive-deal-won-v2.json", lambda b: map_pipedrive(b, MAPPINGS.pipedrive, NOW)),
            ("pipedrive-call-v1.json", lambda b: map_pipedrive(b, MAPPINGS.pipedrive, NOW)),
        ]
    ),
    st.data(),
)
def test_no_payload_crashes_a_mapper(case: Any, data: st.DataObject) -> None:
    name, mapper = case
    body = data.draw(_mutations(name))
    mapped = mapper(body)
    for reject in mapped.rejects:
        assert reject.reason  # every reject says why
    for key, value in mapped.events:
        assert orjson.loads(value)["rep_id"] == key.decode()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_no_xml_crashes_the_salesforce_mapper(body: bytes) -> None:
    framed = crm.sample("salesforce-tasks.xml").replace(
        b"<sf:Status>Completed</sf:Status>", body, 1
    )
    for candidate in (body, framed):
        try:
            mapped = map_salesforce(candidate, MAPPINGS.salesforce, NOW)
        except Unauthorized:
            continue
        assert all(r.reason for r in mapped.rejects)


def test_timestamps_in_every_crm_format() -> None:
    from spm_stream.crm.model import instant

    expected = datetime(2026, 11, 2, 10, 15, tzinfo=UTC)
    for value in (
        1793614500000,
        "1793614500000",
        1793614500,
        "2026-11-02 10:15:00",
        "2026-11-02T10:15:00Z",
        "2026-11-02T11:15:00+01:00",
    ):
        assert instant(value, "f") == expected, value
    # A 400-digit epoch (int or string) is a bad payload, not a server error.
    for bad in ("", None, "yesterday", True, float("nan"), [1], 10**400, "9" * 400, "9" * 5000):
        with pytest.raises(BadPayload):
            instant(bad, "f")
    assert instant("2026-11-02", "f") == expected - timedelta(hours=10, minutes=15)


def test_a_record_that_gives_nothing_is_ignored_in_every_crm() -> None:
    inbound = orjson.loads(crm.sample("hubspot-call.json")) | {"hs_call_direction": "INBOUND"}
    assert map_hubspot(orjson.dumps(inbound), MAPPINGS.hubspot, NOW, None).ignored == 1
    deleted = orjson.loads(crm.sample("close-call.json"))
    deleted["event"]["action"] = "deleted"
    assert map_close(orjson.dumps(deleted), MAPPINGS.close, NOW).ignored == 1
    draft = crm.sample("salesforce-tasks.xml").replace(b">Completed<", b">Not Started<")
    assert map_salesforce(draft, MAPPINGS.salesforce, NOW).ignored == 1  # the other owner rejects
    # Counted records are not ignored.
    assert map_close(crm.sample("close-call.json"), MAPPINGS.close, NOW).ignored == 0
