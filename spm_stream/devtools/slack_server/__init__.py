"""A local Slack for tests and the demo: the Web API the app calls, and Slack's requests to it.

- ``api``: the Web API methods spm-stream calls, answered the way Slack does
  (``{"ok": true, …}`` or ``{"ok": false, "error": "…"}``), with Slack's Block Kit
  limits and the Tier 3 limit of ``chat.update``; messages, edits, metadata and Home views
  are kept. Point ``WebClient(base_url="http://HOST:PORT/api/")`` at it. Faults can be
  queued: ``POST /_faults`` with ``{"method": "chat.postMessage", "status": 429,
  "retry_after": 1, "count": 2}`` (``"error"`` sets Slack's error code, ``"delay_s"``
  answers late, ``"lost_answer": true`` does the call and then answers too late).
- ``app``: Slack's side of the Slack app: signed slash commands, Events API callbacks
  and button clicks sent to ``app_url``, and the ``response_url``s it hands out.
- ``page``: everything on one HTML page (``/``), with working buttons and a ``/spm`` box.
"""

from spm_stream.devtools.slack_server.api import make_app, run_forever, serve
from spm_stream.devtools.slack_server.app import send_click, send_command, send_event, sign
from spm_stream.devtools.slack_server.state import Fault, SlackState, StoredMessage

__all__ = [
    "Fault",
    "SlackState",
    "StoredMessage",
    "make_app",
    "run_forever",
    "send_click",
    "send_command",
    "send_event",
    "serve",
    "sign",
]
