"""CRM sample payloads (examples/crm) and request signing exactly as each CRM does it.

The signers are written from each CRM's documentation, independently of
``spm_stream.crm.signatures``, so a test that signs here and verifies there
checks our verification against the documented scheme.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import yaml

SAMPLES = Path(__file__).parents[1] / "examples" / "crm"

HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
CLOSE_KEY = "058bfb6a3d8cfdc4da7c3be5901b16ae11da982b46a25fb2cd7016e97a140a1c"
PIPEDRIVE_AUTH = ("spm", "pipedrive-webhook-pass")
SALESFORCE_TOKEN = "sf-outbound-7c1e"
EVENTS_TOKEN = "generic-token-93ab"


def sample(name: str) -> bytes:
    """The bytes of examples/crm/NAME."""
    return (SAMPLES / name).read_bytes()


def mapping_config() -> dict[str, Any]:
    """The ``crm:`` section of examples/crm/mapping.yaml."""
    loaded: dict[str, Any] = yaml.safe_load((SAMPLES / "mapping.yaml").read_text())
    return dict(loaded["crm"])


def hubspot_headers(
    url: str, body: bytes, *, secret: str = HUBSPOT_SECRET, at_ms: int | None = None
) -> dict[str, str]:
    """X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret, "POST" + url + body + timestamp))."""
    timestamp = str(at_ms if at_ms is not None else int(time.time() * 1000))
    source = b"POST" + url.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-Version": "v3",
    }


def close_headers(body: bytes, *, key: str = CLOSE_KEY, at: int | None = None) -> dict[str, str]:
    """close-sig-hash: hex HMAC-SHA256(bytes.fromhex(key), timestamp + body)."""
    timestamp = str(at if at is not None else int(time.time()))
    data = timestamp.encode() + body
    signature = hmac.new(bytearray.fromhex(key), data, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "close-sig-hash": signature,
        "close-sig-timestamp": timestamp,
    }


def pipedrive_headers(
    user: str = PIPEDRIVE_AUTH[0], password: str = PIPEDRIVE_AUTH[1]
) -> dict[str, str]:
    """HTTP basic auth, as Pipedrive sends the webhook's http_auth_user/password."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {token}"}


def salesforce_headers() -> dict[str, str]:
    """Outbound messages are SOAP 1.1 posts (the token rides in the URL)."""
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
