"""CRM webhooks on the worker's web server: POST /webhooks/<crm> (``CRM_NAMES``).

Thin: read at most SPM_WEBHOOK_MAX_BYTES (else 413), verify the CRM's
signature (else 401, nothing produced), map with ``spm_stream.crm``, produce
events keyed by rep_id and rejects to the dead-letter topic, and answer 200
only once Kafka acknowledged every record (else 503, and the CRM retries; the
event ids are derived from the CRM's own ids, so a retry never counts twice).
A payload we cannot map is dead-lettered with its reason and still answered
200, so the CRM does not retry it for days.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import faust
from aiohttp import web
from faust.web import Request, Response, View

from agents.runtime import Runtime
from spm_stream.crm.endpoints import CRM_NAMES, Endpoint, endpoints
from spm_stream.crm.model import BadPayload, Mapped, Unauthorized, WebhookRequest

__all__ = ["register"]

log = logging.getLogger("spm_stream.agents.webhooks")


class _TooLarge(Exception):
    pass


async def _read(request: Any, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _TooLarge
    body = bytearray()
    while chunk := await request.content.read(65_536):
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


async def produce(rt: Runtime, endpoint: Endpoint, mapped: Mapped) -> None:
    """Send mapped events to the input topic and rejects to the DLQ; wait for the acks."""
    source, dlq = rt.topics.source, rt.topics.dlq
    futures = [await source.send(key=key, value=value) for key, value in mapped.events]
    for reject in mapped.rejects:
        headers = [
            ("spm-reason", reject.reason.encode()),
            ("spm-field", reject.field.encode()),
            ("spm-source", f"webhook:{endpoint.name}".encode()),
            ("spm-crm", endpoint.name.encode()),
        ]
        futures.append(await dlq.send(key=None, value=reject.payload, headers=headers))
    if futures:
        await asyncio.gather(*futures)


async def handle(
    rt: Runtime, configured: Mapping[str, Endpoint], view: View, name: str, faust_request: Request
) -> Response:
    """One CRM webhook: credential, bounded body, mapping, then the events in Kafka (or a
    4xx/5xx naming what is wrong); the CRM retries on 5xx."""
    settings = rt.settings
    request = cast(web.Request, faust_request)  # Faust's aiohttp driver passes aiohttp's
    endpoint = configured.get(name)
    if endpoint is None:
        return view.error(404, f"/webhooks/{name} is not configured on this worker")
    url = settings.public_url + request.path_qs if settings.public_url else str(request.url)
    incoming = WebhookRequest(request.method, url, dict(request.headers), b"", dict(request.query))
    now = datetime.now(UTC)
    try:
        # The credential first: an unauthenticated sender never makes us hold a body.
        endpoint.check_before_body(incoming, now)
    except Unauthorized as exc:
        log.warning("webhook %s refused: %s", name, exc, extra={"remote": request.remote})
        return view.error(401, "unauthorized")
    try:
        body = await asyncio.wait_for(
            _read(request, settings.webhook_max_bytes), settings.webhook_read_timeout_s
        )
    except _TooLarge:
        return view.error(413, f"body over {settings.webhook_max_bytes} bytes")
    except TimeoutError:
        return view.error(408, f"body not received within {settings.webhook_read_timeout_s}s")
    incoming = dataclasses.replace(incoming, body=body)
    try:
        endpoint.verify(incoming, now)
        mapped = endpoint.map(incoming, now)
    except Unauthorized as exc:
        log.warning("webhook %s refused: %s", name, exc, extra={"remote": request.remote})
        return view.error(401, "unauthorized")
    except BadPayload as exc:
        return view.error(400, str(exc))
    try:
        # Sending can wait too (no metadata, a full buffer): the whole hand-off is bounded.
        await asyncio.wait_for(produce(rt, endpoint, mapped), settings.webhook_ack_timeout_s)
    except Exception as exc:  # a timeout or any broker error: the CRM retries
        log.error("webhook %s: Kafka did not acknowledge: %r", name, exc)
        return view.error(503, "could not store the events; retry later")
    rt.webhook_events += len(mapped.events)
    rt.webhook_rejects += len(mapped.rejects)
    for reject in mapped.rejects:
        log.warning(
            "webhook %s payload dead-lettered: %s",
            name,
            reject.reason,
            extra={"field": reject.field},
        )
    if endpoint.ack is not None:
        value, content_type = endpoint.ack
        return view.bytes(value, content_type=content_type)
    return view.json(
        {
            "accepted": len(mapped.events),
            "rejected": [{"field": r.field, "reason": r.reason} for r in mapped.rejects],
            "ignored": mapped.ignored,
        }
    )


def register(app: faust.App, rt: Runtime) -> None:
    """Add one POST endpoint per configured CRM (see ``spm_stream.crm.endpoints``)."""
    configured = endpoints(rt.settings, rt.directory.crm, rt.directory.roster())
    if configured:
        log.info("webhook endpoints: %s", ", ".join(f"/webhooks/{n}" for n in configured))

    for crm_name in CRM_NAMES:

        def view_for(name: str) -> type[View]:
            class Webhook(View):
                async def post(self, request: Request) -> Response:
                    return await handle(rt, configured, self, name, request)

            Webhook.__name__ = f"Webhook_{name}"
            return Webhook

        app.page(f"/webhooks/{crm_name}")(view_for(crm_name))
