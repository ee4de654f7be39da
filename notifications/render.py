"""Render Slack messages from named Jinja2 templates: pure, no I/O beyond reading templates.

A template renders Block Kit JSON; every interpolated string goes through
``tojson``, so user data can never break the JSON. Labels per locale live in
``templates/<locale>/labels.json``; a user directory can override both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "APP_SAMPLES",
    "LOCALES",
    "Message",
    "app_sample",
    "as_terminal",
    "check_templates",
    "labels",
    "local_number",
    "local_time",
    "mrkdwn_escape",
    "number",
    "render",
    "sample",
]

LOCALES: Final = ("en", "de", "zh")
_BUILTIN: Final = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered Slack message: fallback text plus Block Kit blocks."""

    text: str
    blocks: list[dict[str, Any]]


#: Control characters and line breaks (a CRM field with "\n\n*URGENT*" would lay out a
#: message of its own) become one space.
_BREAKS: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
#: Where Slack turns text into a link ("http://", "www."): a word joiner breaks it.
_LINKABLE: Final = re.compile(r"(?i)(?<=[a-z])(?=://)|(?<=\bwww)(?=\.)")


def mrkdwn_escape(text: object) -> str:
    """Escape user text for Slack mrkdwn: a name like "<!channel>" cannot ping anyone, a
    bare URL is not made a link, and line breaks cannot start a message of their own."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINKABLE.sub("\u2060", _BREAKS.sub(" ", escaped))


def number(value: float) -> str:
    """12,500 or 12.5: whole numbers without decimals, others with one (charts, TV page)."""
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def local_number(value: float, t: dict[str, Any]) -> str:
    """``number`` with the separators of a locale's labels: 12.500,5 (de), 12,500.5 (en)."""
    marks = t["number"]
    swapped = number(value).replace(",", "\x00").replace(".", marks["decimal"])
    return swapped.replace("\x00", marks["thousands"])


def local_time(iso: object, zone: str = "UTC") -> str:
    """An ISO timestamp as "YYYY-MM-DD HH:MM" on the recipient's wall clock."""
    if not isinstance(iso, str) or not iso:
        return "?"
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


@cache
def _environment(override_dir: Path | None) -> Environment:
    search = [str(override_dir)] if override_dir else []
    # Sandboxed: SPM_TEMPLATES_DIR is written by people who are not the service's admins,
    # and a template must not reach Python's internals ("".__class__.__mro__ ...).
    env = SandboxedEnvironment(
        loader=FileSystemLoader([*search, str(_BUILTIN)]),
        autoescape=select_autoescape(enabled_extensions=()),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
    )
    env.filters["mrkdwn"] = mrkdwn_escape
    env.filters["local"] = local_time
    return env


def labels(locale: str, override_dir: Path | None = None) -> dict[str, Any]:
    """The locale's strings; en for a locale not in ``LOCALES``.

    The locale comes from requests too (``/tv?locale=``): only a name of the fixed list
    ever becomes part of a path or a cache key, so the cache holds at most one entry
    per shipped locale and templates directory.
    """
    return _labels(locale if locale in LOCALES else "en", override_dir)


@cache
def _labels(locale: str, override_dir: Path | None) -> dict[str, Any]:
    for base in filter(None, (override_dir, _BUILTIN)):
        path = base / locale / "labels.json"
        if path.is_file():
            loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return loaded
    if locale != "en":
        return _labels("en", override_dir)
    raise FileNotFoundError("templates/en/labels.json is missing")


def render(
    kind: str, locale: str, context: dict[str, Any], override_dir: Path | None = None
) -> Message:
    """Render template ``<kind>.json.j2`` in a locale to a Message; raise on bad output."""
    template = _environment(override_dir).get_template(f"{kind}.json.j2")
    raw = template.render(t=labels(locale, override_dir), **context)
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {kind!r} ({locale}) did not render valid JSON: {exc}") from None
    return Message(text=payload["text"], blocks=payload["blocks"])


SAMPLES: Final = Path(__file__).parent / "samples"


def sample(kind: str) -> dict[str, Any]:
    """The shipped example input of a template kind: {subject, recipient, data}."""
    path = SAMPLES / f"{kind}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SAMPLES.glob("*.json")))
        raise ValueError(f"unknown message kind {kind!r} (known: {known})")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


#: Example contexts of the Slack app's own views (``/spm``, App Home): not alerts.
APP_SAMPLES: Final = SAMPLES / "app"


def app_sample(kind: str) -> dict[str, Any]:
    """The shipped example context of an app view (``spm_me``, ``spm_team``, ``spm_text``)."""
    loaded: dict[str, Any] = json.loads((APP_SAMPLES / f"{kind}.json").read_text("utf-8"))
    return loaded


def as_terminal(message: Message) -> str:
    """A message's blocks as plain text lines, roughly as Slack would show them."""
    lines: list[str] = []
    for block in message.blocks:
        kind = block.get("type")
        if kind in ("header", "section") and "text" in block:
            text = str(block["text"]["text"])
            lines.append(f"# {text}" if kind == "header" else text)
        elif kind == "context":
            lines += [f"  {e.get('text', '')}" for e in block.get("elements", [])]
        elif kind == "actions":
            lines.append("  ".join(f"[ {e['text']['text']} ]" for e in block.get("elements", [])))
        elif kind == "divider":
            lines.append("-" * 40)
    return "\n".join(lines)


def check_templates(locales: Iterable[str], override_dir: Path | None = None) -> list[str]:
    """Render every message kind's sample in every locale; the problems found, if any.

    Run at start-up, so a broken override fails the deploy, not a 3 a.m. nudge.
    """
    problems: list[str] = []
    for path in sorted(SAMPLES.glob("*.json")):
        given = sample(path.stem)
        context = {"a": given["data"], "rep": "Ana", "name": "Ana", "zone": "UTC"}
        for locale in sorted(set(locales)):
            try:
                render(path.stem, locale, context, override_dir)
            except Exception as exc:  # a user template can fail in any way Jinja can
                problems.append(f"template {path.stem!r} ({locale}): {exc}")
    for path in sorted(APP_SAMPLES.glob("*.json")):
        for locale in sorted(set(locales)):
            try:
                render(path.stem, locale, app_sample(path.stem), override_dir)
            except Exception as exc:
                problems.append(f"template {path.stem!r} ({locale}): {exc}")
    return problems
