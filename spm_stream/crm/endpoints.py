"""The webhook endpoints a deployment offers: each CRM's check and mapping, by path name.

An endpoint exists only when its secret is set (SPM_HUBSPOT_CLIENT_SECRET,
SPM_CLOSE_SIGNATURE_KEY, SPM_PIPEDRIVE_BASIC_AUTH, SPM_SALESFORCE_TOKEN,
SPM_WEBHOOK_TOKEN): an endpoint that accepted unsigned requests would let
anyone count deals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from spm_stream.config.settings import Settings
from spm_stream.crm import signatures
from spm_stream.crm.close import map_close
from spm_stream.crm.generic import Roster, map_canonical
from spm_stream.crm.hubspot import map_hubspot
from spm_stream.crm.mapping import CrmMappings
from spm_stream.crm.model import Mapped, WebhookRequest
from spm_stream.crm.pipedrive import map_pipedrive
from spm_stream.crm.salesforce import ACK, map_salesforce, map_salesforce_record

__all__ = ["CRM_NAMES", "Endpoint", "endpoints", "remap"]

#: Path names of the webhook endpoints: POST /webhooks/<name>.
CRM_NAMES = ("hubspot", "salesforce", "close", "pipedrive", "events")


@dataclass(frozen=True)
class Endpoint:
    """One webhook endpoint: verify (raises ``Unauthorized``), then map."""

    name: str
    verify: Callable[[WebhookRequest, datetime], None]
    map: Callable[[WebhookRequest, datetime], Mapped]
    #: What the sender wants back on success (Salesforce needs its SOAP ack), else JSON.
    ack: tuple[bytes, str] | None = None
    #: Checked on the headers and URL alone, before the body is read, so a request with
    #: no credential costs no memory; None: ``verify`` itself needs no body.
    precheck: Callable[[WebhookRequest, datetime], None] | None = None

    def check_before_body(self, request: WebhookRequest, now: datetime) -> None:
        """Raise ``Unauthorized`` for a request whose credential is missing or wrong."""
        (self.precheck or self.verify)(request, now)


def endpoints(settings: Settings, crm: CrmMappings, roster: Roster) -> dict[str, Endpoint]:
    """The endpoints whose secrets are configured, by path name; canonical events must name
    reps and teams of ``roster``."""
    tolerance = settings.webhook_tolerance_s
    found: dict[str, Endpoint] = {}
    if (secret := settings.hubspot_client_secret) is not None:
        key = secret.get_secret_value()
        found["hubspot"] = Endpoint(
            "hubspot",
            lambda r, now: signatures.verify_hubspot_v3(r, key, now, tolerance),
            lambda r, now: map_hubspot(r.body, crm.hubspot, now, r.query.get("object")),
            precheck=lambda r, now: signatures.precheck_hubspot_v3(r, now, tolerance),
        )
    if (secret := settings.close_signature_key) is not None:
        hex_key = secret.get_secret_value()
        found["close"] = Endpoint(
            "close",
            lambda r, now: signatures.verify_close(r, hex_key, now, tolerance),
            lambda r, now: map_close(r.body, crm.close, now),
            precheck=lambda r, now: signatures.precheck_close(r, now, tolerance),
        )
    if (secret := settings.pipedrive_basic_auth) is not None:
        user, _, password = secret.get_secret_value().partition(":")
        found["pipedrive"] = Endpoint(
            "pipedrive",
            lambda r, now: signatures.verify_basic_auth(r, user, password),
            lambda r, now: map_pipedrive(r.body, crm.pipedrive, now),
        )
    if (secret := settings.salesforce_token) is not None:
        sf_token = secret.get_secret_value()
        found["salesforce"] = Endpoint(
            "salesforce",
            lambda r, now: signatures.verify_token(r, sf_token),
            lambda r, now: map_salesforce(r.body, crm.salesforce, now),
            ack=(ACK, "text/xml"),
        )
    if (secret := settings.webhook_token) is not None:
        token = secret.get_secret_value()
        found["events"] = Endpoint(
            "events",
            lambda r, now: signatures.verify_bearer(r, token),
            lambda r, now: map_canonical(r.body, roster),
        )
    return found


def remap(
    crm: str, payload: bytes, mappings: CrmMappings, now: datetime, roster: Roster | None = None
) -> Mapped:
    """Map a dead-lettered CRM record again, with the current mapping (after a fix to it)."""
    if crm == "hubspot":
        return map_hubspot(payload, mappings.hubspot, now, None)
    if crm == "close":
        return map_close(payload, mappings.close, now)
    if crm == "pipedrive":
        return map_pipedrive(payload, mappings.pipedrive, now)
    if crm == "salesforce":
        # Dead-lettered Salesforce records are kept as JSON objects, not the SOAP message.
        record: Any = orjson.loads(payload)
        return map_salesforce_record(record, mappings.salesforce, now)
    return map_canonical(payload, roster)
