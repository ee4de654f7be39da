"""Who may read: bearer tokens, signed TV links and Host names (pure)."""

from __future__ import annotations

import pytest

from spm_stream.access import (
    allowed_hosts,
    bearer_ok,
    host_allowed,
    host_name,
    is_loopback,
    sign_tv_query,
    tv_key,
    tv_screen,
)

KEY = tv_key("s3cret")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("spm.example.com", False),
    ],
)
def test_loopback_binds(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("header", "name"),
    [("LocalHost:6066", "localhost"), ("[::1]:6066", "::1"), ("::1", "::1"), ("a.b", "a.b")],
)
def test_host_name_drops_the_port(header: str, name: str) -> None:
    assert host_name(header) == name


def test_a_loopback_bind_answers_only_loopback_names() -> None:
    allowed = allowed_hosts([], "127.0.0.1", None)
    assert host_allowed("127.0.0.1:6066", allowed)
    assert host_allowed("localhost:6066", allowed)
    assert not host_allowed("attacker.example:6066", allowed)  # DNS rebinding
    assert not host_allowed(None, allowed)


def test_configured_and_public_names_are_answered() -> None:
    allowed = allowed_hosts(["spm.internal"], "0.0.0.0", "https://spm.example.com")
    assert host_allowed("spm.internal", allowed)
    assert host_allowed("spm.example.com:443", allowed)
    assert not host_allowed("other.example", allowed)
    assert allowed_hosts([], "0.0.0.0", None) is None  # a token guards it; any name


def test_bearer_tokens() -> None:
    assert bearer_ok("Bearer s3cret", "s3cret")
    assert bearer_ok("bearer s3cret", "s3cret")  # the scheme is case-insensitive
    assert not bearer_ok("Bearer s3cre", "s3cret")
    assert not bearer_ok("Basic s3cret", "s3cret")
    assert not bearer_ok("", "s3cret")
    assert not bearer_ok(None, "s3cret")


def test_a_signed_link_names_its_screen_and_covers_its_query() -> None:
    signed = sign_tv_query(KEY, "lobby", {"team": "t1", "metrics": "calls"})
    assert tv_screen(KEY, signed) == "lobby"
    assert tv_screen(KEY, {**signed, "interval": "1"}) == "lobby"  # the page may change it
    assert tv_screen(KEY, {**signed, "team": "t2"}) is None
    assert tv_screen(KEY, {**signed, "screen": "kitchen"}) is None
    assert tv_screen(KEY, {**signed, "extra": "1"}) is None
    assert tv_screen(tv_key("rotated"), signed) is None
    assert tv_screen(KEY, {"team": "t1"}) is None
    with pytest.raises(ValueError, match="screen"):
        sign_tv_query(KEY, "", {})
