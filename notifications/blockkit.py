"""Slack's Block Kit limits, enforced before sending (and by the local Slack server).

Slack refuses a whole message (``invalid_blocks``, ``msg_too_long``) when one
block breaks a limit, which would take every alert grouped into it down with
it. ``fit`` truncates what is too long, visibly ("…"), so a long rep name or a
template override never costs a message; ``problems`` lists what Slack would
refuse, for the local server. Limits from Slack's Block Kit reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

__all__ = [
    "MAX_BLOCKS",
    "MAX_HEADER_TEXT",
    "MAX_HOME_BLOCKS",
    "MAX_MESSAGE_TEXT",
    "MAX_SECTION_TEXT",
    "fit",
    "fit_text",
    "problems",
]

#: Blocks in one message; a Home tab or modal view allows 100.
MAX_BLOCKS: Final = 50
MAX_HOME_BLOCKS: Final = 100
#: A section's text, and each of its fields.
MAX_SECTION_TEXT: Final = 3000
MAX_FIELD_TEXT: Final = 2000
MAX_FIELDS: Final = 10
#: A header's plain text.
MAX_HEADER_TEXT: Final = 150
#: Elements of a context block, and of an actions block.
MAX_CONTEXT_ELEMENTS: Final = 10
MAX_ACTIONS: Final = 25
#: A button's label, its value.
MAX_BUTTON_TEXT: Final = 75
MAX_BUTTON_VALUE: Final = 2000
#: The top-level ``text`` Slack accepts (it truncates longer, then refuses past 40,000).
MAX_MESSAGE_TEXT: Final = 40_000
_ELLIPSIS: Final = "…"


def fit_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut shown by an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _fit_object(obj: Any, limit: int) -> Any:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return {**obj, "text": fit_text(obj["text"], limit)}
    return obj


def _fit_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    out = dict(block)
    if kind == "section":
        if "text" in out:
            out["text"] = _fit_object(out["text"], MAX_SECTION_TEXT)
        if isinstance(out.get("fields"), list):
            out["fields"] = [_fit_object(f, MAX_FIELD_TEXT) for f in out["fields"][:MAX_FIELDS]]
    elif kind == "header":
        out["text"] = _fit_object(out.get("text"), MAX_HEADER_TEXT)
    elif kind == "context" and isinstance(out.get("elements"), list):
        out["elements"] = [
            _fit_object(e, MAX_SECTION_TEXT) for e in out["elements"][:MAX_CONTEXT_ELEMENTS]
        ]
    elif kind == "actions" and isinstance(out.get("elements"), list):
        out["elements"] = [
            {**e, "text": _fit_object(e.get("text"), MAX_BUTTON_TEXT)}
            if e.get("type") == "button"
            else e
            for e in out["elements"][:MAX_ACTIONS]
        ]
    return out


def fit(blocks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks with every text cut to Slack's limits (the count of blocks is the caller's)."""
    return [_fit_block(b) for b in blocks]


def _text_of(obj: Any) -> str:
    return obj["text"] if isinstance(obj, dict) and isinstance(obj.get("text"), str) else ""


def problems(text: str, blocks: Sequence[Any], max_blocks: int = MAX_BLOCKS) -> list[str]:
    """What Slack would refuse in a message, worded like its ``invalid_blocks`` errors."""
    found: list[str] = []
    if len(text) > MAX_MESSAGE_TEXT:
        found.append(f"text must be at most {MAX_MESSAGE_TEXT} characters")
    if len(blocks) > max_blocks:
        found.append(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        at = f"[json-pointer:/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            found.append(f"must provide an object with a type {at}]")
            continue
        kind = block["type"]
        if kind == "section":
            if len(_text_of(block.get("text"))) > MAX_SECTION_TEXT:
                found.append(f"must be less than {MAX_SECTION_TEXT + 1} characters {at}/text/text]")
            fields = block.get("fields") or []
            if len(fields) > MAX_FIELDS:
                found.append(f"must be at most {MAX_FIELDS} items {at}/fields]")
            for j, f in enumerate(fields):
                if len(_text_of(f)) > MAX_FIELD_TEXT:
                    found.append(
                        f"must be less than {MAX_FIELD_TEXT + 1} characters {at}/fields/{j}]"
                    )
        elif kind == "header":
            if len(_text_of(block.get("text"))) > MAX_HEADER_TEXT:
                found.append(f"must be less than {MAX_HEADER_TEXT + 1} characters {at}/text/text]")
        elif kind == "context":
            if len(block.get("elements") or []) > MAX_CONTEXT_ELEMENTS:
                found.append(f"must be at most {MAX_CONTEXT_ELEMENTS} items {at}/elements]")
        elif kind == "actions":
            elements = block.get("elements") or []
            if len(elements) > MAX_ACTIONS:
                found.append(f"must be at most {MAX_ACTIONS} items {at}/elements]")
            for j, e in enumerate(elements):
                if isinstance(e, dict) and len(_text_of(e.get("text"))) > MAX_BUTTON_TEXT:
                    found.append(
                        f"must be less than {MAX_BUTTON_TEXT + 1} characters "
                        f"{at}/elements/{j}/text/text]"
                    )
                if isinstance(e, dict) and len(str(e.get("value", ""))) > MAX_BUTTON_VALUE:
                    limit = MAX_BUTTON_VALUE + 1
                    found.append(f"must be less than {limit} characters {at}/elements/{j}/value]")
    return found
