"""Layouts: a chart's data table and style become a vector scene and recorded elements.

All coordinates are integer pixels of the shown image. Every kind records, for each
category, a focus region (``x_value``, ``y_value`` or ``row``; tables also ``column`` per
series) that holds all of that category's marks and labels; regions of one kind never
overlap, which is what lets the focus tools change exactly the named elements' pixels.

- :func:`draw_style`: a seeded style (size, palette, fonts, gridlines, fine print).
- :func:`layout`: ``(table, style) -> (Scene, elements, targets)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from iapo_bench.core import Box, Element
from iapo_bench.envs.chart.data import format_number
from iapo_bench.fonts import text_bbox
from iapo_bench.scene import Ellipse, Line, Op, Rect, Scene, Text, Wedge, measure_text

__all__ = ["PALETTES", "draw_style", "layout"]

INK = (40, 40, 40)
GRID = (225, 225, 225)
WHITE = (255, 255, 255)

PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "tab": (
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
        (174, 199, 232),
        (255, 187, 120),
    ),
    "muted": (
        (68, 119, 170),
        (102, 204, 238),
        (34, 136, 51),
        (204, 187, 68),
        (238, 102, 119),
        (170, 51, 119),
        (187, 187, 187),
        (51, 34, 136),
        (17, 119, 51),
        (153, 153, 51),
        (136, 204, 238),
        (68, 170, 153),
    ),
    "warm": (
        (178, 24, 43),
        (214, 96, 77),
        (244, 165, 130),
        (146, 197, 222),
        (67, 147, 195),
        (33, 102, 172),
        (120, 60, 20),
        (230, 171, 2),
        (102, 166, 30),
        (117, 112, 179),
        (231, 41, 138),
        (166, 118, 29),
    ),
}
"""Colour cycles for series (and pie slices)."""

_SIZES = ((560, 420), (600, 420), (520, 400), (640, 460))
# Per difficulty: value-label size (fine print from 2 up) and category-label size.
_VALUE_SIZE = {0: 13, 1: 10, 2: 4, 3: 4}
_LABEL_SIZE = {0: 12, 1: 11, 2: 10, 3: 10}


def draw_style(rng: np.random.Generator, kind: str, difficulty: int) -> dict[str, Any]:
    """A seeded drawing style for a chart kind at a difficulty (JSON-like dict)."""
    width, height = _SIZES[int(rng.integers(len(_SIZES)))]
    return {
        "width": width,
        "height": height,
        "palette": str(rng.choice(sorted(PALETTES))),
        "palette_offset": int(rng.integers(12)),
        "face": "serif" if rng.random() < 0.25 else "sans",
        "gridlines": bool(rng.random() < 0.7),
        "title_size": int(rng.integers(13, 17)),
        "label_size": _LABEL_SIZE[difficulty],
        "value_size": _VALUE_SIZE[difficulty],
        "rotate_labels": difficulty == 3 and kind in ("vbar", "grouped_vbar", "stacked_vbar"),
        "table_grid": str(rng.choice(["full", "rows", "none"])),
        "zebra": bool(rng.random() < 0.5),
    }


class _Builder:
    """Collects scene ops and the elements they draw."""

    def __init__(self, width: int, height: int, style: dict[str, Any]) -> None:
        self.width, self.height, self.style = width, height, style
        self.ops: list[Op] = []
        self.elements: list[Element] = []

    def element(
        self, kind: str, key: str, box: tuple[int, int, int, int], group: str = "", text: str = ""
    ) -> None:
        x0, y0, x1, y1 = box
        self.elements.append(Element(kind, key, Box(x0, y0, x1, y1), group, text))

    def rect(
        self,
        box: tuple[int, int, int, int],
        fill: tuple[int, int, int],
        kind: str | None = None,
        key: str = "",
        group: str = "",
    ) -> None:
        self.ops.append(Rect(box=box, fill=fill))
        if kind is not None:
            self.element(kind, key, box, group)

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        anchor: str,
        kind: str | None = None,
        key: str = "",
        group: str = "",
        bold: bool = False,
        fill: tuple[int, int, int] = INK,
        vertical: bool = False,
    ) -> tuple[int, int, int, int]:
        face = self.style["face"] + ("-bold" if bold else "")
        position = (round(xy[0]), round(xy[1]))
        bounds = measure_text(position, text, size, face, anchor, vertical)
        self.ops.append(
            Text(
                xy=position,
                text=text,
                size=size,
                face=face,
                anchor=anchor,
                fill=fill,
                vertical=vertical,
                bounds=bounds,
            )
        )
        if kind is not None:
            self.element(kind, key, bounds, group, text)
        return bounds

    def measure(
        self, xy: tuple[float, float], text: str, size: int, anchor: str
    ) -> tuple[int, int, int, int]:
        """Where a text op would draw, without drawing it."""
        return measure_text((round(xy[0]), round(xy[1])), text, size, self.style["face"], anchor)

    def width_of(self, text: str, size: int, bold: bool = False) -> int:
        face = self.style["face"] + ("-bold" if bold else "")
        x0, _, x1, _ = text_bbox(face, size, text)
        return x1 - x0

    def height_of(self, size: int) -> int:
        _, y0, _, y1 = text_bbox(self.style["face"], size, "Ag19")
        return y1 - y0

    def fit(self, texts: list[str], size: int, limit: float, floor: int = 5) -> int:
        while size > floor and max(self.width_of(t, size) for t in texts) > limit:
            size -= 1
        return size

    def scene(self) -> Scene:
        return Scene(width=self.width, height=self.height, background=WHITE, ops=tuple(self.ops))


def _colours(style: dict[str, Any], n: int) -> list[tuple[int, int, int]]:
    palette = PALETTES[style["palette"]]
    return [palette[(style["palette_offset"] + i) % len(palette)] for i in range(n)]


def _ink_on(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return INK if luminance > 150 else WHITE


def _nice_axis(value: float) -> tuple[float, float]:
    """An axis maximum above ``value`` and a tick step dividing it into 4-6 parts."""
    raw_step = value / 5
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = magnitude
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step * 6 >= value:
            break
    return math.ceil(value / step - 1e-9) * step, step


def _tick_label(value: float, step: float, table: dict[str, Any]) -> str:
    decimals = 0 if float(step).is_integer() else (1 if float(step * 10).is_integer() else 2)
    separator = "," if table["thousands"] else ""
    return f"{table['prefix']}{value:{separator}.{decimals}f}{table['suffix']}"


def _title_and_legend(b: _Builder, table: dict[str, Any], colours: list) -> int:
    """Draw the title (and a legend row for several series); returns the y below them."""
    title = b.text(
        (b.width / 2, 8), table["title"], b.style["title_size"], "mt", "title", bold=True
    )
    y = title[3] + 8
    if len(table["series"]) > 1 and table["kind"] != "table":
        size = max(9, b.style["label_size"] - 1)
        widths = [12 + 4 + b.width_of(s, size) + 14 for s in table["series"]]
        x = (b.width - sum(widths)) / 2
        swatch = b.height_of(size)
        for name, colour, w in zip(table["series"], colours, widths, strict=True):
            b.rect((round(x), y, round(x) + 12, y + swatch), colour)
            b.text((x + 16, y), name, size, "lt", "legend", group=name)
            x += w
        y += swatch + 10
    return y


def layout(
    table: dict[str, Any], style: dict[str, Any]
) -> tuple[Scene, tuple[Element, ...], tuple[str, ...]]:
    """The scene, the elements and the focus targets (region kinds) of a table's chart."""
    kind = table["kind"]
    if kind == "pie":
        b, targets = _pie(table, style), ()
    elif kind == "table":
        b, targets = _table(table, style), ("row", "column")
    else:
        b = _cartesian(table, style)
        targets = (
            ("x_value",)
            if kind in ("vbar", "grouped_vbar", "stacked_vbar", "line")
            else ("y_value",)
        )
    return b.scene(), tuple(b.elements), targets


def _cartesian(table: dict[str, Any], style: dict[str, Any]) -> _Builder:
    kind = table["kind"]
    vertical = kind in ("vbar", "grouped_vbar", "stacked_vbar", "line")
    stacked, grouped = kind.startswith("stacked"), kind.startswith("grouped")
    b = _Builder(style["width"], style["height"], style)
    categories, series = table["categories"], table["series"]
    scale = 10 ** table["decimals"]
    values = [[v / scale for v in row] for row in table["raw_values"]]
    labels = [[format_number(v, table) for v in row] for row in table["raw_values"]]
    colours = _colours(style, len(series))
    top = _title_and_legend(b, table, colours)
    n, k = len(categories), len(series)
    peak = max(map(sum, zip(*values, strict=True))) if stacked else max(map(max, values))
    all_labels = [t for row in labels for t in row]
    value_size = style["value_size"]
    headroom = 1.16 if vertical and not stacked else 1.04
    axis_max, step = _nice_axis(peak * headroom)
    ticks = [i * step for i in range(round(axis_max / step) + 1)]
    tick_texts = [_tick_label(t, step, table) for t in ticks]
    tick_size = 9
    label_size = style["label_size"]
    width, height = b.width, b.height

    if vertical:
        left = 10 + max(b.width_of(t, tick_size) for t in tick_texts) + 6
        right = width - 12
        slot = (right - left) / n
        if style["rotate_labels"]:
            label_depth = max(b.width_of(c, label_size) for c in categories)
        else:
            label_size = b.fit(categories, label_size, slot - 4, floor=7)
            label_depth = b.height_of(label_size)
        bottom = height - 8 - label_depth - 6
        start, end = left, right
    else:
        label_size = b.fit(categories, label_size, width * 0.3, floor=7)
        left = 10 + max(b.width_of(c, label_size) for c in categories) + 8
        room = 0 if stacked else max(b.width_of(t, value_size) for row in labels for t in row)
        half_tick = math.ceil(b.width_of(tick_texts[-1], tick_size) / 2)
        right = min(width - 12 - room - 4, width - 4 - half_tick)
        bottom = height - 8 - b.height_of(tick_size) - 6
        start, end = top, bottom
    span = bottom - top if vertical else right - left
    bounds = [start + round(i * (end - start) / n) for i in range(n + 1)]

    # Value-label sizes that fit: grouped bars share a slot, stacked labels sit in segments.
    thickness = [(bounds[i + 1] - bounds[i]) * (0.8 / k if grouped else 0.6) for i in range(n)]
    bar = math.floor(min(thickness)) - 1  # the narrowest bar after rounding
    upright = False  # grouped vertical labels too wide for their bar stand on end
    if grouped and vertical:
        value_size = b.fit(all_labels, value_size, bar, floor=7)
        if max(b.width_of(t, value_size) for t in all_labels) > bar:
            upright = True
            value_size = max(5, min(style["value_size"], bar))
            length = max(b.width_of(t, value_size) for t in all_labels)
            needed = 1 / max(0.3, 1 - (length + 8) / span)
            if peak * needed > axis_max:
                axis_max, step = _nice_axis(peak * needed)
                ticks = [i * step for i in range(round(axis_max / step) + 1)]
                tick_texts = [_tick_label(t, step, table) for t in ticks]
    elif not vertical and not stacked:
        value_size = min(value_size, max(5, int(min(thickness))))
    if stacked:
        thinnest = min(span * v / axis_max for row in values for v in row)
        along = min(thickness) - 2 if vertical else thinnest - 2
        value_size = min(value_size, max(5, int(thinnest - 2 if vertical else min(thickness) - 2)))
        value_size = b.fit(all_labels, value_size, along)

    def value_pos(v: float) -> int:
        return (
            round(bottom - span * v / axis_max) if vertical else round(left + span * v / axis_max)
        )

    for tick, text in zip(ticks, tick_texts, strict=True):
        p = value_pos(tick)
        if vertical:
            if style["gridlines"] and tick > 0:
                b.rect((left, p, right, p + 1), GRID)
            b.text((left - 5, p), text, tick_size, "rm", "tick_label")
        else:
            if style["gridlines"] and tick > 0:
                b.rect((p, top, p + 1, bottom), GRID)
            b.text((p, bottom + 5), text, tick_size, "mt", "tick_label")
    b.rect((left - 1, top, left, bottom + 1), INK)
    b.rect((left - 1, bottom, right, bottom + 1), INK)

    points: list[list[tuple[float, float]]] = [[] for _ in series]
    for i, category in enumerate(categories):
        s0, s1 = bounds[i], bounds[i + 1]
        centre = (s0 + s1) / 2
        base = 0.0
        for j, name in enumerate(series):
            v = values[j][i]
            if kind == "line":
                points[j].append((centre, bottom - span * v / axis_max))
                continue
            if grouped:  # neighbours share a rounded edge, so they never overlap
                a = centre - 0.4 * (s1 - s0)
                c0, c1 = round(a + j * thickness[i]), round(a + (j + 1) * thickness[i])
            else:
                c0, c1 = round(centre - thickness[i] / 2), round(centre + thickness[i] / 2)
            v0, v1 = value_pos(base), value_pos(base + v)
            box = (c0, v1, c1, v0) if vertical else (v0, c0, v1, c1)
            if box[2] > box[0] and box[3] > box[1]:
                b.rect(box, colours[j], "bar", category, name)
            mid = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            if stacked:
                b.text(
                    mid,
                    labels[j][i],
                    value_size,
                    "mm",
                    "value_label",
                    category,
                    name,
                    fill=_ink_on(colours[j]),
                )
                base += v
            elif upright:
                length = b.width_of(labels[j][i], value_size)
                b.text(
                    (mid[0], box[1] - 3 - length),
                    labels[j][i],
                    value_size,
                    "lt",
                    "value_label",
                    category,
                    name,
                    vertical=True,
                )
            elif vertical:
                b.text(
                    (mid[0], box[1] - 2),
                    labels[j][i],
                    value_size,
                    "mb",
                    "value_label",
                    category,
                    name,
                )
            else:
                b.text(
                    (box[2] + 3, mid[1]),
                    labels[j][i],
                    value_size,
                    "lm",
                    "value_label",
                    category,
                    name,
                )
        if vertical:
            b.text(
                (centre, bottom + 6),
                category,
                label_size,
                "mt",
                "category_label",
                category,
                vertical=style["rotate_labels"],
            )
            b.element("x_value", category, (s0, top - 2, s1, height - 2))
        else:
            b.text((left - 6, centre), category, label_size, "rm", "category_label", category)
            b.element("y_value", category, (2, s0, width - 2, s1))

    if kind == "line":
        r = 3.5
        for j in range(len(series)):
            b.ops.append(Line(points=tuple(points[j]), width=2, fill=colours[j]))
        for j, name in enumerate(series):
            for i, (x, y) in enumerate(points[j]):
                b.ops.append(
                    Ellipse(box=(x - r, y - r, x + r, y + r), fill=colours[j], outline=WHITE)
                )
                b.element(
                    "marker",
                    categories[i],
                    (math.floor(x - r), math.floor(y - r), math.ceil(x + r), math.ceil(y + r)),
                    name,
                )
        for i, category in enumerate(categories):
            _line_labels(
                b,
                [(points[j][i], labels[j][i], series[j]) for j in range(k)],
                category,
                value_size,
                r,
            )
    return b


def _line_labels(b: _Builder, items: list, category: str, size: int, r: float) -> None:
    """Value labels of several series at one x, each by its marker, never overlapping.

    Topmost marker first: a label goes above its marker, else below it, else above every
    label placed so far.
    """
    placed: list[tuple[int, int, int, int]] = []

    def free(box: tuple[int, int, int, int]) -> bool:
        return not any(box[1] < p[3] + 1 and p[1] < box[3] + 1 for p in placed)

    for (x, y), text, name in sorted(items, key=lambda item: item[0][1]):
        options = [((x, y - r - 2), "mb"), ((x, y + r + 2), "mt")]
        spot = next(((xy, a) for xy, a in options if free(b.measure(xy, text, size, a))), None)
        if spot is None:
            spot = ((x, min(p[1] for p in placed) - 2), "mb")
        placed.append(b.text(spot[0], text, size, spot[1], "value_label", category, name))


def _pie(table: dict[str, Any], style: dict[str, Any]) -> _Builder:
    b = _Builder(style["width"], style["height"], style)
    categories = table["categories"]
    raw = table["raw_values"][0]
    labels = [format_number(v, table) for v in raw]
    colours = _colours(style, len(categories))
    top = _title_and_legend(b, table, colours)
    size = style["label_size"]
    rows = len(categories)
    row_height = max(b.height_of(size), b.height_of(style["value_size"])) + 6
    legend_width = (
        max(b.width_of(c, size) for c in categories)
        + 16
        + 8
        + max(b.width_of(t, style["value_size"]) for t in labels)
    )
    radius = max(40, min((b.height - top - 16) / 2, (b.width - legend_width - 60) / 2))
    cx, cy = 20 + radius, top + 6 + radius
    angle = -90.0
    total = sum(raw)
    for value, colour in zip(raw, colours, strict=True):
        sweep = 360 * value / total
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        b.ops.append(Wedge(box=box, start=angle, end=angle + sweep, fill=colour, outline=WHITE))
        angle += sweep
    x = round(cx + radius + 30)
    y = round(max(top, cy - rows * row_height / 2))
    for category, label, colour in zip(categories, labels, colours, strict=True):
        swatch = b.height_of(size)
        b.rect((x, y, x + 12, y + swatch), colour, "legend_swatch", category)
        name = b.text((x + 16, y), category, size, "lt", "legend", category)
        b.text(
            (name[2] + 8, y + swatch / 2), label, style["value_size"], "lm", "value_label", category
        )
        y += row_height
    return b


def _table(table: dict[str, Any], style: dict[str, Any]) -> _Builder:
    categories, columns = table["categories"], table["series"]
    cells = [[format_number(v, table) for v in row] for row in table["raw_values"]]
    header_size = style["label_size"]
    cell_size = style["value_size"]
    probe = _Builder(1, 1, style)
    pad = 6
    starter = table["noun"].capitalize()
    first = max(probe.width_of(c, header_size) for c in [*categories, starter]) + 2 * pad
    widths = [
        max(
            probe.width_of(name, header_size, bold=True),
            max(probe.width_of(cells[j][i], cell_size) for i in range(len(categories))),
        )
        + 2 * pad
        for j, name in enumerate(columns)
    ]
    row_height = max(probe.height_of(header_size), probe.height_of(cell_size)) + 2 * pad - 2
    header_height = probe.height_of(header_size) + 2 * pad
    title_height = probe.height_of(style["title_size"]) + 16
    # A table image is as large as its table, like a cropped screenshot.
    width = max(320, first + sum(widths) + 40)
    height = title_height + 4 + header_height + row_height * len(categories) + 16
    b = _Builder(width, height, style)
    b.text((width / 2, 8), table["title"], style["title_size"], "mt", "title", bold=True)
    x0 = (width - first - sum(widths)) // 2
    y0 = title_height + 4
    header_fill = tuple(int(255 - (255 - c) * 0.35) for c in _colours(style, 1)[0])
    x1 = x0 + first + sum(widths)
    y_end = y0 + header_height + row_height * len(categories)
    b.rect((x0, y0, x1, y0 + header_height), header_fill)
    b.text((x0 + pad, y0 + header_height / 2), starter, header_size, "lm", "header", bold=True)
    edges = [x0 + first]
    for w in widths:
        edges.append(edges[-1] + w)
    for j, name in enumerate(columns):
        b.text(
            (edges[j + 1] - pad, y0 + header_height / 2),
            name,
            header_size,
            "rm",
            "header",
            group=name,
            bold=True,
        )
        b.element("column", name, (edges[j], y0, edges[j + 1], y_end))
    for i, category in enumerate(categories):
        top = y0 + header_height + i * row_height
        if style["zebra"] and i % 2 == 1:
            b.rect((x0, top, x1, top + row_height), (244, 244, 244))
        if style["table_grid"] != "none":
            b.rect((x0, top, x1, top + 1), (200, 200, 200))
        b.text((x0 + pad, top + row_height / 2), category, header_size, "lm", "row_label", category)
        for j, name in enumerate(columns):
            b.text(
                (edges[j + 1] - pad, top + row_height / 2),
                cells[j][i],
                cell_size,
                "rm",
                "cell",
                category,
                name,
            )
        b.element("row", category, (x0, top, x1, top + row_height))
    b.rect((x0, y_end, x1, y_end + 1), INK)
    b.rect((x0, y0 + header_height - 1, x1, y0 + header_height), INK)
    if style["table_grid"] == "full":
        for edge in edges[:-1]:
            b.rect((edge, y0, edge + 1, y_end), (200, 200, 200))
    return b
