"""Chart images for Slack posts: a board as a horizontal bar chart (PNG, with Pillow).

Pure: rows in, PNG bytes out. Fonts: Noto Sans CJK or DejaVu Sans when the
system has them (so names in any script render), else Pillow's bundled font.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from notifications.render import number

__all__ = ["bar_chart"]

_FONTS: Final = (
    "NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)
_BG, _FG, _MUTED, _BAR, _TOP = "#0f1720", "#e8eef5", "#8aa0b5", "#3a7bd5", "#ffd166"


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in _FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def bar_chart(
    title: str, subtitle: str, rows: Sequence[tuple[str, float]], width: int = 900
) -> bytes:
    """A PNG of ``rows`` (label, value) as horizontal bars, largest first as given."""
    bar_h, gap, top, left, right = 34, 12, 96, 220, 90
    height = top + max(1, len(rows)) * (bar_h + gap) + 24
    image = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(image)
    draw.text((24, 20), title, fill=_FG, font=_font(30))
    draw.text((24, 60), subtitle, fill=_MUTED, font=_font(18))
    peak = max((v for _, v in rows), default=0.0) or 1.0
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar_h + gap)
        shown = label if len(label) <= 22 else label[:21] + "…"
        draw.text((24, y + 6), shown, fill=_FG, font=_font(20))
        length = max(2, int((width - left - right) * max(value, 0.0) / peak))
        draw.rectangle((left, y, left + length, y + bar_h), fill=_TOP if i == 0 else _BAR)
        draw.text((left + length + 10, y + 6), number(value), fill=_FG, font=_font(20))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
