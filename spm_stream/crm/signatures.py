"""Each CRM's own way of proving a webhook came from it, checked on the raw bytes.

Pure functions of the request, the secret and the current time; each raises
``Unauthorized`` with a reason for the log (the HTTP answer is a bare 401).
Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from spm_stream.crm.model import Unauthorized, WebhookRequest

__all__ = [
    "hubspot_v3_signature",
    "precheck_close",
    "precheck_hubspot_v3",
    "verify_basic_auth",
    "verify_bearer",
    "verify_close",
    "verify_hubspot_v3",
    "verify_token",
]

# HubSpot signs the URI with these escapes decoded (its request-validation guide).
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def _fresh(timestamp: str | None, now: datetime, tolerance_s: float, *, millis: bool) -> None:
    if not timestamp:
        raise Unauthorized("missing signature timestamp")
    # A real one has 10 or 13 digits; a 400-digit one overflowed the float division (a 500).
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 16:
        raise Unauthorized(f"signature timestamp is not a number: {timestamp[:40]!r}")
    sent = int(timestamp) / (1000 if millis else 1)
    age = now.timestamp() - sent
    if abs(age) > tolerance_s:
        raise Unauthorized(f"stale signature timestamp: {age:.0f}s from now")


def _same(expected: str, given: str | None) -> None:
    if not given or not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise Unauthorized("signature mismatch")


def hubspot_v3_signature(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature: base64 HMAC-SHA256 of method + URI + body + timestamp."""
    uri = url
    for escaped, char in _HUBSPOT_DECODED.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_hubspot_v3(
    request: WebhookRequest, secret: str, now: datetime, tolerance_s: float
) -> None:
    """``X-HubSpot-Signature-v3`` with ``X-HubSpot-Request-Timestamp`` (ms) within tolerance."""
    timestamp = request.header("X-HubSpot-Request-Timestamp")
    _fresh(timestamp, now, tolerance_s, millis=True)
    assert timestamp is not None
    expected = hubspot_v3_signature(secret, request.method, request.url, request.body, timestamp)
    _same(expected, request.header("X-HubSpot-Signature-v3"))


def precheck_hubspot_v3(request: WebhookRequest, now: datetime, tolerance_s: float) -> None:
    """What can be checked before the body is read: a fresh timestamp and a signature."""
    _fresh(request.header("X-HubSpot-Request-Timestamp"), now, tolerance_s, millis=True)
    if not request.header("X-HubSpot-Signature-v3"):
        raise Unauthorized("missing signature")


def precheck_close(request: WebhookRequest, now: datetime, tolerance_s: float) -> None:
    """What can be checked before the body is read: a fresh timestamp and a signature."""
    _fresh(request.header("close-sig-timestamp"), now, tolerance_s, millis=False)
    if not request.header("close-sig-hash"):
        raise Unauthorized("missing signature")


def close_signature(key_hex: str, timestamp: str, body: bytes) -> str:
    """Close's signature: hex HMAC-SHA256 of timestamp + body, keyed by the hex signature_key."""
    key = bytes.fromhex(key_hex)
    return hmac.new(key, timestamp.encode() + body, hashlib.sha256).hexdigest()


def verify_close(request: WebhookRequest, key_hex: str, now: datetime, tolerance_s: float) -> None:
    """``close-sig-hash`` over ``close-sig-timestamp`` (seconds) + body, within tolerance."""
    timestamp = request.header("close-sig-timestamp")
    _fresh(timestamp, now, tolerance_s, millis=False)
    assert timestamp is not None
    _same(close_signature(key_hex, timestamp, request.body), request.header("close-sig-hash"))


def verify_basic_auth(request: WebhookRequest, user: str, password: str) -> None:
    """HTTP basic auth, as Pipedrive sends it when the webhook has a user and password."""
    header = request.header("Authorization") or ""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise Unauthorized("missing basic auth")
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed basic auth") from None
    expected = f"{user}:{password}".encode()
    if not hmac.compare_digest(expected, given):
        raise Unauthorized("wrong basic auth credentials")


def verify_bearer(request: WebhookRequest, token: str) -> None:
    """``Authorization: Bearer TOKEN``: the generic endpoint's API token."""
    header = request.header("Authorization") or ""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    _same(token, given)


def verify_token(request: WebhookRequest, token: str, header: str = "X-SPM-Token") -> None:
    """A shared secret in a header, or in the ``token`` query parameter for senders that
    cannot set headers (Salesforce outbound messages)."""
    _same(token, request.header(header) or request.query.get("token"))
