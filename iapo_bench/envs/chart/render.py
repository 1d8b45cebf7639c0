"""Pillow rendering of bar charts, recording the box of every drawn element.

Layout is computed in integer pixels of the shown image; drawing happens at ``SCALE`` times
that size (the full-resolution source), and the shown image is the source box-reduced by
``SCALE``. So a shown pixel is exactly the mean of a ``SCALE x SCALE`` source block, element
regions of neighbouring categories never overlap, and zoom can re-read the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from iapo_bench.core import Box, Element
from iapo_bench.envs.fonts import font

__all__ = ["SCALE", "SHOWN_SIZE", "BarChartSpec", "RenderedChart", "render_bar_chart"]

SCALE = 2
"""Source pixels per shown pixel, on each axis."""
SHOWN_SIZE = (560, 420)
"""Width and height of the shown image."""

_INK = (40, 40, 40)
_GRID = (224, 224, 224)
_BACKGROUND = (255, 255, 255)


@dataclass(frozen=True)
class BarChartSpec:
    """What to draw: the data and its styling, all sizes in shown pixels."""

    orientation: str  # "vertical" (categories on x) or "horizontal" (categories on y)
    title: str
    categories: tuple[str, ...]
    labels: tuple[str, ...]  # value labels, already formatted
    values: tuple[float, ...]
    bar_color: tuple[int, int, int]
    value_font_size: int
    label_font_size: int = 11


@dataclass(frozen=True)
class RenderedChart:
    """The source render, the shown image and the recorded elements (shown pixels)."""

    source: np.ndarray
    shown: np.ndarray
    elements: tuple[Element, ...]


def _nice_ceiling(value: float) -> tuple[float, float]:
    """An axis maximum above ``value`` and a tick step dividing it into 4-6 parts."""
    raw_step = value / 5
    magnitude = 10 ** math.floor(math.log10(raw_step))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step * 6 >= value:
            break
    return math.ceil(value / step) * step, step


def _tick_text(value: float, step: float) -> str:
    decimals = 0 if float(step).is_integer() else 1
    return f"{value:.{decimals}f}"


class _Canvas:
    """Draws at source scale from shown-pixel coordinates and records element boxes."""

    def __init__(self) -> None:
        width, height = SHOWN_SIZE
        self.image = Image.new("RGB", (width * SCALE, height * SCALE), _BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.elements: list[Element] = []

    def text_size(self, text: str, size: int, face: str = "sans") -> tuple[float, float]:
        x0, y0, x1, y1 = self.draw.textbbox(
            (0, 0), text, font=font(face, size * SCALE), anchor="lt"
        )
        return (x1 - x0) / SCALE, (y1 - y0) / SCALE

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        anchor: str,
        kind: str,
        key: str = "",
        face: str = "sans",
    ) -> Box:
        position = (round(xy[0] * SCALE), round(xy[1] * SCALE))
        typeface = font(face, size * SCALE)
        self.draw.text(position, text, font=typeface, fill=_INK, anchor=anchor)
        box = self._shown_box(self.draw.textbbox(position, text, font=typeface, anchor=anchor))
        self.elements.append(Element(kind=kind, key=key, box=box, text=text))
        return box

    def rectangle(self, box: tuple[int, int, int, int], color: tuple[int, int, int]) -> None:
        """Fill source pixels ``[x0, x1) x [y0, y1)`` given in source coordinates."""
        x0, y0, x1, y1 = box
        if x1 > x0 and y1 > y0:
            self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=color)

    def record(self, kind: str, key: str, source_box: tuple[float, float, float, float]) -> Box:
        box = self._shown_box(source_box)
        self.elements.append(Element(kind=kind, key=key, box=box))
        return box

    @staticmethod
    def _shown_box(source_box: tuple[float, float, float, float]) -> Box:
        x0, y0, x1, y1 = source_box
        return Box(
            x0=math.floor(x0 / SCALE),
            y0=math.floor(y0 / SCALE),
            x1=math.ceil(x1 / SCALE),
            y1=math.ceil(y1 / SCALE),
        )

    def finish(self) -> RenderedChart:
        source = np.asarray(self.image)
        shown = np.asarray(self.image.reduce(SCALE))
        return RenderedChart(source=source, shown=shown, elements=tuple(self.elements))


def _fit_font(canvas: _Canvas, texts: tuple[str, ...], size: int, max_width: float) -> int:
    while size > 7 and max(canvas.text_size(t, size)[0] for t in texts) > max_width:
        size -= 1
    return size


def render_bar_chart(spec: BarChartSpec) -> RenderedChart:
    """Render a vertical or horizontal bar chart with value labels above/after each bar."""
    if spec.orientation == "vertical":
        return _render_vertical(spec)
    if spec.orientation == "horizontal":
        return _render_horizontal(spec)
    raise ValueError(f"orientation must be 'vertical' or 'horizontal', got {spec.orientation!r}")


def _title(canvas: _Canvas, spec: BarChartSpec) -> Box:
    return canvas.text((SHOWN_SIZE[0] / 2, 10), spec.title, 15, "mt", "title", face="sans-bold")


def _render_vertical(spec: BarChartSpec) -> RenderedChart:
    canvas = _Canvas()
    width, height = SHOWN_SIZE
    title = _title(canvas, spec)
    axis_max, step = _nice_ceiling(max(spec.values) * 1.12)
    ticks = [i * step for i in range(round(axis_max / step) + 1)]
    tick_texts = [_tick_text(t, step) for t in ticks]
    left = 14 + math.ceil(max(canvas.text_size(t, 10)[0] for t in tick_texts)) + 8
    right = width - 16
    top = title.y1 + 18
    n = len(spec.categories)
    bounds = [left + round(i * (right - left) / n) for i in range(n + 1)]
    label_size = _fit_font(canvas, spec.categories, spec.label_font_size, min(np.diff(bounds)) - 6)
    label_height = canvas.text_size("Ag", label_size)[1]
    bottom = height - 14 - math.ceil(label_height) - 8

    for tick, text in zip(ticks, tick_texts, strict=True):
        y = round((bottom - (bottom - top) * tick / axis_max) * SCALE)
        canvas.rectangle((left * SCALE, y, right * SCALE, y + SCALE), _GRID)
        canvas.text((left - 6, y / SCALE), text, 10, "rm", "tick_label")
    canvas.rectangle((left * SCALE - SCALE, top * SCALE, left * SCALE, bottom * SCALE), _INK)
    canvas.rectangle((left * SCALE, bottom * SCALE, right * SCALE, bottom * SCALE + SCALE), _INK)

    for i, (name, label, value) in enumerate(
        zip(spec.categories, spec.labels, spec.values, strict=True)
    ):
        slot0, slot1 = bounds[i], bounds[i + 1]
        centre = (slot0 + slot1) / 2
        bar_width = 0.6 * (slot1 - slot0)
        x0 = round((centre - bar_width / 2) * SCALE)
        x1 = round((centre + bar_width / 2) * SCALE)
        y0 = round((bottom - (bottom - top) * value / axis_max) * SCALE)
        canvas.rectangle((x0, y0, x1, bottom * SCALE), spec.bar_color)
        canvas.record("bar", name, (x0, y0, x1, bottom * SCALE))
        canvas.text(
            (centre, y0 / SCALE - 3), label, spec.value_font_size, "mb", "value_label", name
        )
        canvas.text((centre, bottom + 6), name, label_size, "mt", "category_label", name)
        region = (slot0 * SCALE, (top - 12) * SCALE, slot1 * SCALE, (height - 4) * SCALE)
        canvas.record("x_value", name, region)
    return canvas.finish()


def _render_horizontal(spec: BarChartSpec) -> RenderedChart:
    canvas = _Canvas()
    width, height = SHOWN_SIZE
    title = _title(canvas, spec)
    axis_max, step = _nice_ceiling(max(spec.values) * 1.05)
    ticks = [i * step for i in range(round(axis_max / step) + 1)]
    label_size = _fit_font(canvas, spec.categories, spec.label_font_size, width * 0.3)
    left = 14 + math.ceil(max(canvas.text_size(c, label_size)[0] for c in spec.categories)) + 8
    value_room = max(canvas.text_size(t, spec.value_font_size)[0] for t in spec.labels) + 8
    right = width - 14 - math.ceil(value_room)
    top = title.y1 + 14
    bottom = height - 34
    n = len(spec.categories)
    bounds = [top + round(i * (bottom - top) / n) for i in range(n + 1)]

    for tick in ticks:
        x = round((left + (right - left) * tick / axis_max) * SCALE)
        canvas.rectangle((x, top * SCALE, x + SCALE, bottom * SCALE), _GRID)
        canvas.text((x / SCALE, bottom + 6), _tick_text(tick, step), 10, "mt", "tick_label")
    canvas.rectangle((left * SCALE - SCALE, top * SCALE, left * SCALE, bottom * SCALE), _INK)
    canvas.rectangle(
        (left * SCALE - SCALE, bottom * SCALE, right * SCALE, bottom * SCALE + SCALE), _INK
    )

    for i, (name, label, value) in enumerate(
        zip(spec.categories, spec.labels, spec.values, strict=True)
    ):
        slot0, slot1 = bounds[i], bounds[i + 1]
        centre = (slot0 + slot1) / 2
        bar_height = 0.6 * (slot1 - slot0)
        y0 = round((centre - bar_height / 2) * SCALE)
        y1 = round((centre + bar_height / 2) * SCALE)
        x1 = round((left + (right - left) * value / axis_max) * SCALE)
        canvas.rectangle((left * SCALE, y0, x1, y1), spec.bar_color)
        canvas.record("bar", name, (left * SCALE, y0, x1, y1))
        canvas.text(
            (x1 / SCALE + 4, centre), label, spec.value_font_size, "lm", "value_label", name
        )
        canvas.text((left - 8, centre), name, label_size, "rm", "category_label", name)
        region = (4 * SCALE, slot0 * SCALE, (width - 4) * SCALE, slot1 * SCALE)
        canvas.record("y_value", name, region)
    return canvas.finish()
