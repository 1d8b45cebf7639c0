"""Drawing gallery items: products, scenes of shapes and objects, and posters.

Everything is drawn with Pillow and integer numpy arithmetic from an item's look (integer
pixels), with fonts from :mod:`iapo_bench.fonts`, so an item has the same bytes in every
process. Trigonometry (rotated shapes) goes through :func:`_unit_polygon`, which rounds to
six decimals before scaling, so a last-bit difference in a platform's ``sin`` cannot move a
vertex.

- :func:`render_item`: an item's full ``ITEM_SIDE x ITEM_SIDE`` image.
- :func:`draw_object`, :func:`draw_shape`: the pieces, reused by cluttered query scenes.
- :func:`colour`, :func:`shade`: named colours.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from iapo_bench.envs.search.items import (
    ITEM_SIDE,
    ItemSpec,
    PosterLook,
    ProductLook,
    SceneLook,
)
from iapo_bench.envs.search.vocabulary import ACCENTS, BACKGROUNDS, COLOURS
from iapo_bench.fonts import font, text_bbox

__all__ = ["colour", "draw_object", "draw_shape", "render_item", "shade"]

RGB = tuple[int, int, int]
_ALL_COLOURS = {**COLOURS, **ACCENTS, **BACKGROUNDS}


def colour(name: str) -> RGB:
    """The RGB of a colour word."""
    return _ALL_COLOURS[name]


def shade(rgb: RGB, percent: int) -> RGB:
    """``rgb`` darkened (percent < 100) or lightened towards white (percent > 100)."""
    if percent <= 100:
        return (rgb[0] * percent // 100, rgb[1] * percent // 100, rgb[2] * percent // 100)
    lift = percent - 100
    return tuple(c + (255 - c) * lift // 100 for c in rgb)  # type: ignore[return-value]


# --- products ---------------------------------------------------------------------------------

# Each object in a unit square: body parts (filled with the pattern) and detail parts (drawn
# over them in a dark shade). Parts: ("rect" | "ellipse", x0, y0, x1, y1), ("round", x0, y0,
# x1, y1, r), ("poly", x, y, x, y, ...), ("ring", x0, y0, x1, y1, width), ("pie", x0, y0,
# x1, y1, start, end), ("line", x, y, x, y, ..., width).
_BODIES: dict[str, tuple[tuple[object, ...], ...]] = {
    "mug": (("round", 0.12, 0.2, 0.72, 0.95, 0.07), ("ring", 0.56, 0.34, 0.94, 0.76, 0.08)),
    "bottle": (("rect", 0.4, 0.06, 0.6, 0.32), ("round", 0.25, 0.28, 0.75, 0.98, 0.12)),
    "box": (
        ("poly", 0.08, 0.36, 0.7, 0.36, 0.7, 0.95, 0.08, 0.95),
        ("poly", 0.08, 0.36, 0.3, 0.14, 0.92, 0.14, 0.7, 0.36),
        ("poly", 0.7, 0.36, 0.92, 0.14, 0.92, 0.74, 0.7, 0.95),
    ),
    "lamp": (
        ("poly", 0.28, 0.04, 0.72, 0.04, 0.9, 0.4, 0.1, 0.4),
        ("rect", 0.46, 0.4, 0.54, 0.88),
        ("ellipse", 0.22, 0.84, 0.78, 0.98),
    ),
    "chair": (
        ("rect", 0.18, 0.04, 0.32, 0.6),
        ("rect", 0.18, 0.5, 0.82, 0.62),
        ("rect", 0.2, 0.62, 0.29, 0.98),
        ("rect", 0.71, 0.62, 0.8, 0.98),
    ),
    "shoe": (
        (
            "poly",
            *(0.04, 0.62, 0.34, 0.56, 0.42, 0.3, 0.64, 0.28, 0.7, 0.54),
            *(0.96, 0.68, 0.96, 0.86, 0.04, 0.86),
        ),
    ),
    "vase": (
        ("ellipse", 0.18, 0.34, 0.82, 0.98),
        ("poly", 0.38, 0.06, 0.62, 0.06, 0.58, 0.46, 0.42, 0.46),
        ("ellipse", 0.31, 0.02, 0.69, 0.11),
    ),
    "bag": (("round", 0.08, 0.36, 0.92, 0.96, 0.06), ("ring", 0.28, 0.08, 0.72, 0.6, 0.07)),
    "clock": (("ellipse", 0.06, 0.06, 0.94, 0.94),),
    "hat": (("ellipse", 0.02, 0.62, 0.98, 0.86), ("round", 0.24, 0.18, 0.76, 0.76, 0.14)),
    "teapot": (
        ("ellipse", 0.2, 0.3, 0.8, 0.92),
        ("poly", 0.74, 0.56, 0.98, 0.28, 0.98, 0.38, 0.8, 0.72),
        ("ring", 0.02, 0.4, 0.3, 0.76, 0.07),
        ("ellipse", 0.36, 0.2, 0.64, 0.36),
        ("ellipse", 0.45, 0.11, 0.55, 0.22),
    ),
    "book": (("rect", 0.18, 0.04, 0.82, 0.96),),
    "phone": (("round", 0.28, 0.02, 0.72, 0.98, 0.07),),
    "umbrella": (
        ("pie", 0.02, 0.1, 0.98, 0.9, 180, 360),
        ("rect", 0.48, 0.48, 0.53, 0.9),
        ("ring", 0.36, 0.82, 0.53, 0.98, 0.04),
    ),
    "table": (
        ("rect", 0.04, 0.34, 0.96, 0.46),
        ("rect", 0.1, 0.46, 0.18, 0.96),
        ("rect", 0.82, 0.46, 0.9, 0.96),
    ),
}
_DETAILS: dict[str, tuple[tuple[object, ...], ...]] = {
    "mug": (("line", 0.12, 0.3, 0.72, 0.3, 0.02),),
    "bottle": (("rect", 0.37, 0.0, 0.63, 0.08),),
    "box": (("line", 0.7, 0.36, 0.7, 0.95, 0.015), ("line", 0.08, 0.36, 0.7, 0.36, 0.015)),
    "lamp": (("line", 0.1, 0.4, 0.9, 0.4, 0.02),),
    "chair": (),
    "shoe": (("line", 0.04, 0.8, 0.96, 0.8, 0.04),),
    "vase": (),
    "bag": (("line", 0.08, 0.5, 0.92, 0.5, 0.02),),
    "clock": (
        ("ring", 0.06, 0.06, 0.94, 0.94, 0.04),
        ("line", 0.5, 0.5, 0.5, 0.2, 0.04),
        ("line", 0.5, 0.5, 0.72, 0.6, 0.04),
    ),
    "hat": (("rect", 0.24, 0.6, 0.76, 0.68),),
    "teapot": (),
    "book": (("rect", 0.18, 0.04, 0.27, 0.96), ("line", 0.36, 0.2, 0.72, 0.2, 0.02)),
    "phone": (("rect", 0.32, 0.1, 0.68, 0.84), ("ellipse", 0.46, 0.88, 0.54, 0.94)),
    "umbrella": (("line", 0.5, 0.1, 0.5, 0.5, 0.015),),
    "table": (),
}


def _draw_parts(
    draw: ImageDraw.ImageDraw,
    parts: tuple[tuple[object, ...], ...],
    box: tuple[int, int, int],
    fill: int | RGB,
) -> None:
    x, y, side = box

    def px(u: object, v: object) -> tuple[int, int]:
        return x + round(float(u) * side), y + round(float(v) * side)  # type: ignore[arg-type]

    for kind, *args in parts:
        if kind in ("rect", "ellipse", "round", "ring", "pie"):
            x0, y0 = px(args[0], args[1])
            x1, y1 = px(args[2], args[3])
            if kind == "rect":
                draw.rectangle((x0, y0, x1, y1), fill=fill)
            elif kind == "ellipse":
                draw.ellipse((x0, y0, x1, y1), fill=fill)
            elif kind == "round":
                radius = max(1, round(float(args[4]) * side))  # type: ignore[arg-type]
                draw.rounded_rectangle((x0, y0, x1, y1), radius=radius, fill=fill)
            elif kind == "ring":
                width = max(1, round(float(args[4]) * side))  # type: ignore[arg-type]
                draw.ellipse((x0, y0, x1, y1), outline=fill, width=width)
            else:
                draw.pieslice((x0, y0, x1, y1), int(args[4]), int(args[5]), fill=fill)  # type: ignore[call-overload]
        elif kind == "poly":
            points = [px(args[i], args[i + 1]) for i in range(0, len(args), 2)]
            draw.polygon(points, fill=fill)
        elif kind == "line":
            points = [px(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
            width = max(1, round(float(args[-1]) * side))  # type: ignore[arg-type]
            draw.line(points, fill=fill, width=width)


@functools.cache
def _coordinates() -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.indices((ITEM_SIDE, ITEM_SIDE), dtype=np.int32)
    return ys, xs


@functools.lru_cache(maxsize=256)  # a few hundred (pattern, step, angle) combinations
def _pattern_mask(pattern: str, step: int, angle: int) -> Image.Image:
    """Where a pattern puts its accent colour: an item-sized ``L`` mask (255 = accent)."""
    ys, xs = _coordinates()
    if pattern == "striped":
        along = {0: ys, 90: xs, 45: xs + ys, 135: xs - ys + ITEM_SIDE}[angle]
        on = (along // step) % 3 == 0
    elif pattern == "dotted":
        half = step // 2
        dx = xs % step - half
        dy = (ys + (xs // step % 2) * half) % step - half
        on = dx * dx + dy * dy <= (step * 3 // 10) ** 2
    elif pattern == "checked":
        on = (xs // step + ys // step) % 2 == 0
    elif pattern == "zigzag":
        wave = np.abs(xs % (2 * step) - step)
        on = ((ys + wave) // step) % 2 == 0
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    return Image.fromarray(on.astype(np.uint8) * 255)


def draw_object(
    image: Image.Image, name: str, box: tuple[int, int, int], fill: RGB, detail: RGB
) -> None:
    """Draw product object ``name`` in one plain colour into ``box`` = ``(x, y, side)``."""
    draw = ImageDraw.Draw(image)
    _draw_parts(draw, _BODIES[name], box, fill)
    _draw_parts(draw, _DETAILS[name], box, detail)


def _render_product(look: ProductLook) -> np.ndarray:
    background = colour(look.background)
    image = Image.new("RGB", (ITEM_SIDE, ITEM_SIDE), background)
    if look.floor:
        image.paste(shade(background, 86), (0, look.floor, ITEM_SIDE, ITEM_SIDE))
    mask = Image.new("L", (ITEM_SIDE, ITEM_SIDE), 0)
    _draw_parts(ImageDraw.Draw(mask), _BODIES[look.object], look.box, 255)
    main = colour(look.colour)
    image.paste(main, mask=mask)
    if look.pattern != "plain":
        accent = ImageChops.multiply(mask, _pattern_mask(look.pattern, look.step, look.angle))
        image.paste(colour(look.accent), mask=accent)
    _draw_parts(ImageDraw.Draw(image), _DETAILS[look.object], look.box, shade(main, 45))
    return np.asarray(image)


# --- scenes -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _unit_polygon(shape: str, turn: int) -> tuple[tuple[float, float], ...]:
    """A shape's outline on the unit circle, rotated by ``turn`` degrees, six decimals."""
    if shape == "star":
        radii, count = (1.0, 0.45), 10
    elif shape == "cross":
        # A plus sign: twelve corners at two radii, at alternating angles.
        a, b = 0.35, 1.0
        corners = [(a, b), (a, a), (b, a), (b, -a), (a, -a), (a, -b)]
        corners += [(-a, -b), (-a, -a), (-b, -a), (-b, a), (-a, a), (-a, b)]
        return tuple(_rotate(x, y, turn) for x, y in corners)
    else:
        count = {"triangle": 3, "square": 4, "diamond": 4, "hexagon": 6}[shape]
        radii = (1.0,)
    offset = 45 if shape == "square" else 0
    points = []
    for i in range(count):
        angle = math.radians(offset + turn - 90 + 360 * i / count)
        r = radii[i % len(radii)]
        points.append((round(r * math.cos(angle), 6), round(r * math.sin(angle), 6)))
    return tuple(points)


def _rotate(x: float, y: float, turn: int) -> tuple[float, float]:
    c, s = round(math.cos(math.radians(turn)), 6), round(math.sin(math.radians(turn)), 6)
    return round(x * c - y * s, 6), round(x * s + y * c, 6)


def draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, x: int, y: int, radius: int, turn: int, fill: RGB
) -> None:
    """Draw one scene shape centred at ``(x, y)``."""
    if shape == "circle":
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)
    elif shape == "ring":
        box = (x - radius, y - radius, x + radius, y + radius)
        draw.ellipse(box, outline=fill, width=max(2, radius // 3))
    else:
        points = [
            (x + round(u * radius), y + round(v * radius)) for u, v in _unit_polygon(shape, turn)
        ]
        draw.polygon(points, fill=fill)


def _texture(look: SceneLook) -> np.ndarray:
    base = colour(look.background)
    dark = shade(base, 80)
    pixels = np.empty((ITEM_SIDE, ITEM_SIDE, 3), dtype=np.uint8)
    ys, xs = _coordinates()
    if look.texture == "gradient":
        # From the base colour at the top to the dark shade at the bottom, row by row.
        t = np.arange(ITEM_SIDE, dtype=np.int32)[:, None]
        rows = (np.array(base) * (ITEM_SIDE - 1 - t) + np.array(dark) * t) // (ITEM_SIDE - 1)
        pixels[:] = rows.astype(np.uint8)[:, None, :]
        return pixels
    pixels[:] = base
    if look.texture == "grid":
        pixels[(xs % look.step < 2) | (ys % look.step < 2)] = dark
    elif look.texture == "wavy":
        wave = np.abs(xs % (2 * look.step) - look.step) // 2
        pixels[((ys + wave) // (look.step // 2)) % 2 == 0] = dark
    elif look.texture == "speckled":
        rng = np.random.default_rng([look.noise, 5])
        pixels[rng.integers(0, 100, size=(ITEM_SIDE, ITEM_SIDE), dtype=np.uint8) < 12] = dark
    return pixels


def _render_scene(look: SceneLook) -> np.ndarray:
    image = Image.fromarray(_texture(look))
    draw = ImageDraw.Draw(image)
    for s in look.shapes:
        draw_shape(draw, s.shape, s.x, s.y, s.radius, s.turn, colour(s.colour))
    if look.object:
        main = colour(look.object_colour)
        draw_object(image, look.object, look.object_box, main, shade(main, 45))
    return np.asarray(image)


# --- posters ----------------------------------------------------------------------------------

_BAND = 64  # pixels of the title band


def _render_poster(look: PosterLook) -> np.ndarray:
    image = Image.new("RGB", (ITEM_SIDE, ITEM_SIDE), colour(look.background))
    draw = ImageDraw.Draw(image)
    top = _BAND if look.title_at == "top" else 0
    bottom = ITEM_SIDE if look.title_at == "top" else ITEM_SIDE - _BAND
    first = colour(look.blocks[0])
    second = colour(look.blocks[-1])
    split = look.ratio * ITEM_SIDE // 100
    height = bottom - top
    middle = top + look.ratio * height // 100
    if look.layout == "split":
        draw.rectangle((0, top, split, bottom - 1), fill=first)
        if len(look.blocks) > 1:
            draw.rectangle((split + 12, top + 12, ITEM_SIDE - 13, bottom - 13), fill=second)
    elif look.layout == "banded":
        third = height // 3
        draw.rectangle((0, top, ITEM_SIDE - 1, top + third), fill=first)
        draw.rectangle((0, bottom - third, ITEM_SIDE - 1, bottom - 1), fill=second)
    elif look.layout == "diagonal":
        draw.polygon([(0, top), (split + 60, top), (0, bottom - 1)], fill=first)
        if len(look.blocks) > 1:
            draw.polygon(
                [(ITEM_SIDE - 1, bottom - 1), (split, bottom - 1), (ITEM_SIDE - 1, top + 20)],
                fill=second,
            )
    elif look.layout == "medallion":
        r = 30 + look.ratio
        cx, cy = split, (top + bottom) // 2
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=first)
        draw.ellipse((cx - r // 2, cy - r // 2, cx + r // 2, cy + r // 2), fill=second)
    elif look.layout == "quartered":
        draw.rectangle((0, top, split, middle), fill=first)
        draw.rectangle((split, middle, ITEM_SIDE - 1, bottom - 1), fill=second)
    else:  # frame
        inset = 10 + look.ratio // 5
        draw.rectangle(
            (inset, top + inset, ITEM_SIDE - 1 - inset, bottom - 1 - inset),
            outline=first,
            width=14,
        )
        draw.rectangle((inset + 30, top + inset + 30, split, middle), fill=second)
    background = colour(look.background)
    luminance = (299 * background[0] + 587 * background[1] + 114 * background[2]) // 1000
    ink = (20, 20, 20) if luminance > 150 else (250, 250, 250)
    size = 40
    while size > 12:
        x0, _, x1, _ = text_bbox(look.face, size, look.title, "mm")
        if x1 - x0 <= ITEM_SIDE - 20:
            break
        size -= 2
    centre = _BAND // 2 if look.title_at == "top" else ITEM_SIDE - _BAND // 2
    draw.text(
        (ITEM_SIDE // 2, centre), look.title, font=font(look.face, size), fill=ink, anchor="mm"
    )
    return np.asarray(image)


def render_item(spec: ItemSpec) -> np.ndarray:
    """An item's full image, ``uint8 (ITEM_SIDE, ITEM_SIDE, 3)`` (a fresh, writable array)."""
    look = spec.look
    if isinstance(look, ProductLook):
        pixels = _render_product(look)
    elif isinstance(look, SceneLook):
        pixels = _render_scene(look)
    else:
        pixels = _render_poster(look)
    return np.array(pixels, dtype=np.uint8)
