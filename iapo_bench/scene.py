"""Vector scenes: a display list of shapes and text, rasterised at any scale.

Beside :mod:`iapo_bench.core` at the bottom of the package: generators build a
:class:`Scene` for each task (coordinates in pixels of the shown image), the shown image is
its raster at scale 1, the full-resolution source its raster at :data:`SOURCE_SCALE`, and the
``zoom`` tool re-rasterises just the region it was asked for, at the requested factor. So a
zoom is exactly a crop of an infinitely sharp source, and costs what its region costs.

Fonts come only from :mod:`iapo_bench.fonts` (matplotlib's DejaVu), so the same scene gives
the same bytes on every machine with the same Pillow and FreeType.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Union

import numpy as np
from PIL import Image, ImageDraw

from iapo_bench.fonts import font, text_bbox

__all__ = [
    "SOURCE_SCALE",
    "Ellipse",
    "Line",
    "Op",
    "Rect",
    "Scene",
    "Text",
    "Wedge",
    "measure_text",
    "rasterize",
]

SOURCE_SCALE = 3
"""Scale of the full-resolution source relative to the shown image."""

RGB = tuple[int, int, int]
Bounds = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Rect:
    """A filled rectangle covering pixels ``[x0, x1) x [y0, y1)`` at scale 1."""

    box: Bounds
    fill: RGB

    @property
    def bounds(self) -> Bounds:
        """Where it draws, in shown pixels."""
        return self.box


@dataclass(frozen=True, slots=True)
class Text:
    """A string at ``xy`` with a Pillow anchor; ``vertical`` text reads bottom to top.

    ``bounds`` is measured at scale 1 when the op is made (see :func:`measure_text`).
    """

    xy: tuple[int, int]
    text: str
    size: int
    face: str
    anchor: str
    fill: RGB
    vertical: bool
    bounds: Bounds


@dataclass(frozen=True, slots=True)
class Line:
    """A polyline through ``points`` of ``width`` pixels at scale 1."""

    points: tuple[tuple[float, float], ...]
    width: float
    fill: RGB

    @property
    def bounds(self) -> Bounds:
        """Where it draws, in shown pixels."""
        pad = self.width
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return (
            math.floor(min(xs) - pad),
            math.floor(min(ys) - pad),
            math.ceil(max(xs) + pad),
            math.ceil(max(ys) + pad),
        )


@dataclass(frozen=True, slots=True)
class Ellipse:
    """A filled ellipse inside ``box`` (float shown pixels), with an optional outline."""

    box: tuple[float, float, float, float]
    fill: RGB
    outline: RGB | None = None

    @property
    def bounds(self) -> Bounds:
        """Where it draws, in shown pixels."""
        x0, y0, x1, y1 = self.box
        return (math.floor(x0) - 1, math.floor(y0) - 1, math.ceil(x1) + 1, math.ceil(y1) + 1)


@dataclass(frozen=True, slots=True)
class Wedge:
    """A pie slice of the ellipse in ``box`` from ``start`` to ``end`` degrees (clockwise)."""

    box: tuple[float, float, float, float]
    start: float
    end: float
    fill: RGB
    outline: RGB

    @property
    def bounds(self) -> Bounds:
        """Where it may draw (the whole ellipse), in shown pixels."""
        x0, y0, x1, y1 = self.box
        return (math.floor(x0) - 1, math.floor(y0) - 1, math.ceil(x1) + 1, math.ceil(y1) + 1)


Op = Union[Rect, Text, Line, Ellipse, Wedge]  # noqa: UP007  (a runtime alias)


@dataclass(frozen=True, slots=True)
class Scene:
    """A display list in pixels of the shown image, drawn in order over ``background``."""

    width: int
    height: int
    background: RGB
    ops: tuple[Op, ...]

    def to_json(self) -> str:
        """A canonical JSON form (for content hashes)."""
        ops = [{"op": type(op).__name__, **asdict(op)} for op in self.ops]
        payload = {"size": [self.width, self.height], "background": self.background, "ops": ops}
        return json.dumps(payload, separators=(",", ":"))


def measure_text(
    xy: tuple[int, int], text: str, size: int, face: str, anchor: str, vertical: bool = False
) -> Bounds:
    """The pixel box a text op covers at scale 1."""
    x0, y0, x1, y1 = text_bbox(face, size, text, "lt" if vertical else anchor)
    if vertical:  # rotated a quarter turn; the top of the glyph column sits at xy, centred
        width, height = x1 - x0, y1 - y0
        left = xy[0] - height // 2
        return (left, xy[1], left + height, xy[1] + width)
    return (xy[0] + x0, xy[1] + y0, xy[0] + x1, xy[1] + y1)


_CULL_MARGIN = 2  # shown pixels: at larger scales glyph ink reaches past the scale-1 bounds


def _intersects(a: Bounds, b: Bounds) -> bool:
    m = _CULL_MARGIN
    return a[0] - m < b[2] and b[0] < a[2] + m and a[1] - m < b[3] and b[1] < a[3] + m


def rasterize(scene: Scene, scale: float = 1.0, region: Sequence[int] | None = None) -> np.ndarray:
    """Draw ``scene`` at ``scale``; ``region`` ``[x0, y0, x1, y1]`` (shown pixels) crops it.

    The output has ``round(w * scale) x round(h * scale)`` pixels for a region of ``w x h``;
    ops outside the region are skipped.
    """
    rx0, ry0, rx1, ry1 = region if region is not None else (0, 0, scene.width, scene.height)
    ox, oy = round(rx0 * scale), round(ry0 * scale)
    size = (round((rx1 - rx0) * scale), round((ry1 - ry0) * scale))
    image = Image.new("RGB", size, scene.background)
    draw = ImageDraw.Draw(image)
    window = (rx0, ry0, rx1, ry1)

    def at(x: float, y: float) -> tuple[int, int]:
        return round(x * scale) - ox, round(y * scale) - oy

    for op in scene.ops:
        if not _intersects(op.bounds, window):
            continue
        if isinstance(op, Rect):
            x0, y0 = at(op.box[0], op.box[1])
            x1, y1 = at(op.box[2], op.box[3])
            if x1 > x0 and y1 > y0:
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=op.fill)
        elif isinstance(op, Text):
            typeface = font(op.face, max(1, round(op.size * scale)))
            if op.vertical:
                _vertical_text(image, op, typeface, at(*op.xy))
            else:
                draw.text(at(*op.xy), op.text, font=typeface, fill=op.fill, anchor=op.anchor)
        elif isinstance(op, Line):
            for a, b in itertools.pairwise(op.points):
                _segment(image, op, a, b, scale, (ox, oy))
        elif isinstance(op, Ellipse):
            x0, y0 = at(op.box[0], op.box[1])
            x1, y1 = at(op.box[2], op.box[3])
            draw.ellipse((x0, y0, x1, y1), fill=op.fill, outline=op.outline)
        else:
            x0, y0 = at(op.box[0], op.box[1])
            x1, y1 = at(op.box[2], op.box[3])
            draw.pieslice((x0, y0, x1, y1), op.start, op.end, fill=op.fill, outline=op.outline)
    return np.asarray(image)


def _segment(
    image: Image.Image,
    op: Line,
    a: tuple[float, float],
    b: tuple[float, float],
    scale: float,
    offset: tuple[int, int],
) -> None:
    # Pillow rasterises a wide line differently when the canvas clips it, so each segment is
    # drawn on its own mask anchored at the segment's own bounds in the full raster: a region
    # then shows exactly the crop. No rounded joints either (joint="curve" is not
    # shift-invariant); charts put markers on the vertices.
    width = max(1, round(op.width * scale))
    pa = (round(a[0] * scale), round(a[1] * scale))
    pb = (round(b[0] * scale), round(b[1] * scale))
    x0, y0 = min(pa[0], pb[0]) - width, min(pa[1], pb[1]) - width
    x1, y1 = max(pa[0], pb[0]) + width + 1, max(pa[1], pb[1]) + width + 1
    if x1 <= offset[0] or y1 <= offset[1]:
        return
    if x0 >= offset[0] + image.width or y0 >= offset[1] + image.height:
        return
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).line(
        [(pa[0] - x0, pa[1] - y0), (pb[0] - x0, pb[1] - y0)], fill=255, width=width
    )
    image.paste(op.fill, (x0 - offset[0], y0 - offset[1]), mask)


def _vertical_text(image: Image.Image, op: Text, typeface: object, top: tuple[int, int]) -> None:
    x0, y0, x1, y1 = typeface.getbbox(op.text, anchor="lt")  # type: ignore[attr-defined]
    glyphs = Image.new("L", (max(1, x1 - x0), max(1, y1 - y0)), 0)
    ImageDraw.Draw(glyphs).text((-x0, -y0), op.text, font=typeface, fill=255, anchor="lt")
    glyphs = glyphs.transpose(Image.Transpose.ROTATE_90)
    image.paste(op.fill, (top[0] - glyphs.width // 2, top[1]), glyphs)
