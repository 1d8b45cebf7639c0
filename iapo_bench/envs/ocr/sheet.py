"""A sheet: a document laid out in shown pixels and drawn at source resolution.

Document builders place text and shapes with a cursor whose final height they only know at
the end, so a :class:`Sheet` records draw calls and measures text at once (every text
element's box goes into :attr:`Sheet.elements`), then :meth:`Sheet.render` draws everything
at :data:`~iapo_bench.scene.SOURCE_SCALE` times the shown size.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image, ImageDraw

from iapo_bench.core import Box, Element
from iapo_bench.fonts import font
from iapo_bench.scene import SOURCE_SCALE

__all__ = ["RGB", "Sheet"]

RGB = tuple[int, int, int]


class Sheet:
    """A canvas of ``width`` shown pixels whose height is set when it is rendered.

    >>> sheet = Sheet(200, (255, 255, 255))
    >>> box = sheet.text(10, 30, "Total", 12, "sans-bold", (0, 0, 0), kind="label", key="total")
    >>> sheet.elements[0].text, box.y1 <= 30 + 1
    ('Total', True)
    >>> sheet.render(60).size
    (600, 180)
    """

    scale = SOURCE_SCALE

    def __init__(self, width: int, paper: RGB) -> None:
        self.width = width
        self.paper = paper
        self.elements: list[Element] = []
        self._calls: list[Callable[[ImageDraw.ImageDraw], None]] = []

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        face: str,
        fill: RGB,
        anchor: str = "ls",
        kind: str = "text",
        key: str = "",
    ) -> Box:
        """Write ``text`` at ``(x, y)`` (Pillow ``anchor``; baseline-left by default).

        ``size`` is the font size in shown pixels. Returns the ink box in shown pixels.
        """
        typeface = font(face, max(1, round(size * self.scale)))
        at = (round(x * self.scale), round(y * self.scale))
        left, top, right, bottom = typeface.getbbox(text, anchor=anchor)
        box = Box(
            x0=math.floor((at[0] + left) / self.scale),
            y0=math.floor((at[1] + top) / self.scale),
            x1=math.ceil((at[0] + right) / self.scale),
            y1=math.ceil((at[1] + bottom) / self.scale),
        )
        self.elements.append(Element(kind=kind, key=key, box=box, text=text))
        self._calls.append(
            lambda draw: draw.text(at, text, font=typeface, fill=fill, anchor=anchor)
        )
        return box

    def width_of(self, text: str, size: float, face: str) -> float:
        """The advance width of ``text`` in shown pixels."""
        return font(face, max(1, round(size * self.scale))).getlength(text) / self.scale

    def rect(
        self,
        box: tuple[float, float, float, float],
        fill: RGB | None = None,
        outline: RGB | None = None,
        width: float = 1,
    ) -> None:
        """A rectangle over shown-pixel ``box``, filled and/or outlined."""
        corners = tuple(round(v * self.scale) for v in box)
        line = max(1, round(width * self.scale))
        self._calls.append(
            lambda draw: draw.rectangle(corners, fill=fill, outline=outline, width=line)
        )

    def ellipse(self, box: tuple[float, float, float, float], fill: RGB) -> None:
        """A filled ellipse inside shown-pixel ``box``."""
        corners = tuple(round(v * self.scale) for v in box)
        self._calls.append(lambda draw: draw.ellipse(corners, fill=fill))

    def rule(self, x0: float, x1: float, y: float, fill: RGB, dashed: bool = False) -> None:
        """A one-pixel horizontal rule from ``x0`` to ``x1`` at height ``y``."""
        if not dashed:
            self.rect((x0, y, x1, y + 1), fill=fill)
            return
        x = x0
        while x < x1:
            self.rect((x, y, min(x + 3, x1), y + 1), fill=fill)
            x += 5

    def render(self, height: int) -> Image.Image:
        """Draw everything on a ``width x height`` sheet (shown pixels) at source scale."""
        image = Image.new("RGB", (self.width * self.scale, height * self.scale), self.paper)
        draw = ImageDraw.Draw(image)
        for call in self._calls:
            call(draw)
        return image
