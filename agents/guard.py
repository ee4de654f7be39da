"""The read API's door: Host check, then a bearer token or (for TV screens) a signed link.

Reps' personal numbers are behind it (``/kpis``, ``/leaderboard``, ``/stats``,
``/tv``, ``/tv/stream``). ``/health`` stays open for orchestrators; webhooks and
Slack's requests carry their own signatures. The decisions are
``spm_stream.access``; this module only reads the request and answers.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from faust.web import Request, Response, View
from redis.exceptions import RedisError

from spm_stream.access import allowed_hosts, bearer_ok, host_allowed, tv_key, tv_screen
from spm_stream.config.settings import Settings
from spm_stream.store.redis_store import Store

__all__ = ["ReadGuard"]

log = logging.getLogger("spm_stream.agents.guard")


class ReadGuard:
    """Decides whether a request may read; ``refuse`` returns the answer when it may not."""

    def __init__(self, settings: Settings, store: Store) -> None:
        token = settings.api_token
        self._token = token.get_secret_value() if token is not None else None
        self._tv_key = tv_key(self._token) if self._token is not None else None
        self.hosts = allowed_hosts(settings.host_names, settings.web_host, settings.public_url)
        self._store = store
        if self._token is None:
            # Settings.check_exposure refused any other bind at start-up.
            log.warning("SPM_API_TOKEN is not set: the read API answers anyone on this machine")

    @property
    def requires_token(self) -> bool:
        """False only on a loopback bind without SPM_API_TOKEN."""
        return self._token is not None

    def has_bearer(self, request: Request) -> bool:
        """True when the request carries the API token."""
        token = self._token
        return token is not None and bearer_ok(request.headers.get("Authorization"), token)

    def wrong_host(self, view: View, request: Request) -> Response | None:
        """421 for a Host this service does not answer to (a rebound DNS name)."""
        host = request.headers.get("Host")
        if host_allowed(host, self.hosts):
            return None
        return view.json(
            {"error": f"Host {host!r} is not served here; add it to SPM_ALLOWED_HOSTS"},
            status=421,
        )

    async def refuse(self, view: View, request: Request, *, tv: bool = False) -> Response | None:
        """None when the request may read; else the 421 or 401 to answer."""
        if (wrong := self.wrong_host(view, request)) is not None:
            return wrong
        if not self.requires_token or self.has_bearer(request):
            return None
        if tv:
            try:
                if await self.screen(dict(request.query)) is not None:
                    return None
            except (RedisError, OSError):
                return view.json({"error": "cannot check the link now; retry"}, status=503)
        hint = ", or open a signed link from `spm-stream tv link`" if tv else ""
        answer: Any = view.json(
            {"error": f"unauthorized: send Authorization: Bearer <SPM_API_TOKEN>{hint}"},
            status=401,
        )
        answer.headers["WWW-Authenticate"] = 'Bearer realm="spm-stream"'
        return cast(Response, answer)

    async def screen(self, query: dict[str, str]) -> str | None:
        """The screen a signed TV link is for, unless its signature is wrong or it was revoked."""
        if self._tv_key is None:
            return None
        screen = tv_screen(self._tv_key, query)
        if screen is None:
            return None
        revoked = await self._store.redis.sismember(self._store.keys.tv_revoked(), screen)
        return None if revoked else screen
