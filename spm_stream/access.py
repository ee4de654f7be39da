"""Who may read what over HTTP: the read API's bearer token, signed TV links, Host names.

Pure decisions; ``agents.web`` asks them for every request to ``/kpis``,
``/leaderboard``, ``/stats``, ``/tv`` and ``/tv/stream``. A wall screen cannot
send a header, so a TV link carries its own signature instead: an HMAC over the
screen's name and its query, keyed from ``SPM_API_TOKEN`` (rotating the token
voids every link; ``spm-stream tv revoke NAME`` voids one).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Final
from urllib.parse import urlencode, urlsplit

__all__ = [
    "LOOPBACK_NAMES",
    "allowed_hosts",
    "bearer_ok",
    "host_allowed",
    "host_name",
    "is_loopback",
    "sign_tv_query",
    "tv_key",
    "tv_screen",
]

#: Names a browser on the same machine uses; the only Hosts served without a token.
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_TV_CONTEXT: Final = b"spm-stream tv link v1"
#: Query keys the signature covers everything but: the signature itself, and the refresh
#: interval, which the page's own script may change.
_UNSIGNED: Final = frozenset({"sig", "interval"})


def is_loopback(host: str) -> bool:
    """True for a bind address or name that only this machine reaches."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without its port ("[::1]:6066" -> "::1")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed_hosts(
    configured: Iterable[str], bind: str, public_url: str | None
) -> frozenset[str] | None:
    """The Host names to answer (None: any). Configured names win; a loopback bind serves
    only loopback names (and the public URL's), which stops DNS rebinding from a web page."""
    names = {n.strip().lower() for n in configured if n.strip()}
    if public_url:
        names.add((urlsplit(public_url).hostname or "").lower())
    if names - {""}:
        return frozenset((names | LOOPBACK_NAMES) - {""})
    return LOOPBACK_NAMES if is_loopback(bind) else None


def host_allowed(header: str | None, allowed: frozenset[str] | None) -> bool:
    """True when the request's Host is one this service answers to."""
    if allowed is None:
        return True
    return header is not None and host_name(header) in allowed


def bearer_ok(authorization: str | None, token: str) -> bool:
    """True when an Authorization header carries ``Bearer <token>`` (compared in constant time)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def tv_key(api_token: str) -> bytes:
    """The key TV links are signed with, derived from the API token (never the token itself)."""
    return hmac.new(api_token.encode(), _TV_CONTEXT, hashlib.sha256).digest()


def _signature(key: bytes, query: Mapping[str, str]) -> str:
    signed = sorted((k, v) for k, v in query.items() if k not in _UNSIGNED)
    return hmac.new(key, urlencode(signed).encode(), hashlib.sha256).hexdigest()


def sign_tv_query(key: bytes, screen: str, query: Mapping[str, str]) -> dict[str, str]:
    """The query of a signed link for one named screen (``screen`` and ``sig`` added)."""
    if not screen:
        raise ValueError("screen: a name is needed, to revoke the link later")
    signed = {**{k: v for k, v in query.items() if k not in _UNSIGNED}, "screen": screen}
    return {**signed, "sig": _signature(key, signed)}


def tv_screen(key: bytes, query: Mapping[str, str]) -> str | None:
    """The screen a query was signed for, or None when it is not signed with ``key``."""
    screen, sig = query.get("screen"), query.get("sig")
    if not screen or not sig:
        return None
    return screen if hmac.compare_digest(sig, _signature(key, query)) else None
