"""Tests of vector scenes and their rasteriser (iapo_bench/scene.py) on small hand-made scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iapo_bench.scene import (
    SOURCE_SCALE,
    Ellipse,
    Line,
    Rect,
    Scene,
    Text,
    Wedge,
    measure_text,
    rasterize,
)

WHITE = (255, 255, 255)
RED = (200, 30, 30)
GREEN = (30, 160, 60)
BLUE = (30, 60, 200)
INK = (40, 40, 40)


def _scene(*ops: object, width: int = 64, height: int = 48) -> Scene:
    return Scene(width=width, height=height, background=WHITE, ops=tuple(ops))  # type: ignore[arg-type]


def _text(
    xy: tuple[int, int],
    text: str,
    size: int = 12,
    anchor: str = "lt",
    vertical: bool = False,
    face: str = "sans",
    fill: tuple[int, int, int] = INK,
) -> Text:
    bounds = measure_text(xy, text, size, face, anchor, vertical)
    return Text(
        xy=xy, text=text, size=size, face=face, anchor=anchor, fill=fill, vertical=vertical,
        bounds=bounds,
    )  # fmt: skip


def _ink(image: np.ndarray) -> np.ndarray:
    return (image != np.array(WHITE, dtype=np.uint8)).any(axis=2)


def _ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(_ink(image))
    assert len(xs), "no ink"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return (
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _mixed_scene() -> Scene:
    """Every op kind, overlapping, with text of several sizes and a rotated label."""
    return Scene(
        width=120,
        height=90,
        background=WHITE,
        ops=(
            Rect(box=(5, 50, 25, 88), fill=BLUE),
            Rect(box=(30, 30, 50, 88), fill=RED),
            Rect(box=(0, 70, 120, 71), fill=INK),
            _text((60, 4), "Title 2024", size=13, anchor="mt"),
            _text((40, 28), "1,234.5", size=6, anchor="mb"),
            _text((15, 48), "$7.25", size=5, anchor="mb"),
            _text((112, 40), "Northern Territories", size=9, vertical=True),
            _text((97, 60), "Qy%", size=10, anchor="rm"),
            Line(
                points=((-5.0, 80.0), (20.5, 40.2), (64.0, 60.7), (130.0, 20.0)),
                width=2,
                fill=GREEN,
            ),
            Ellipse(box=(60.5, 36.5, 67.5, 43.5), fill=GREEN, outline=WHITE),
            Wedge(box=(70, 55, 100, 85), start=-90, end=40, fill=BLUE, outline=WHITE),
            Wedge(box=(70, 55, 100, 85), start=40, end=270, fill=RED, outline=WHITE),
        ),
    )


# --- Single ops at scale 1 ----------------------------------------------------------------------


def test_empty_scene_is_background_of_the_scene_size() -> None:
    image = rasterize(Scene(width=7, height=5, background=(1, 2, 3), ops=()))
    assert image.shape == (5, 7, 3) and image.dtype == np.uint8
    assert (image == (1, 2, 3)).all()


def test_rect_fills_exactly_its_half_open_box() -> None:
    image = rasterize(_scene(Rect(box=(5, 7, 15, 10), fill=RED)))
    expected = np.full((48, 64, 3), 255, dtype=np.uint8)
    expected[7:10, 5:15] = RED
    np.testing.assert_array_equal(image, expected)
    assert Rect(box=(5, 7, 15, 10), fill=RED).bounds == (5, 7, 15, 10)


@pytest.mark.parametrize("scale", [1, 2, 3, 1.5])
def test_rect_scales_with_the_raster(scale: float) -> None:
    image = rasterize(_scene(Rect(box=(4, 6, 10, 8), fill=RED)), scale)
    assert image.shape == (round(48 * scale), round(64 * scale), 3)
    red = (image == RED).all(axis=2)
    ys, xs = np.nonzero(red)
    assert (xs.min(), xs.max() + 1) == (round(4 * scale), round(10 * scale))
    assert (ys.min(), ys.max() + 1) == (round(6 * scale), round(8 * scale))
    assert red.sum() == (round(10 * scale) - round(4 * scale)) * (
        round(8 * scale) - round(6 * scale)
    )


def test_empty_rects_draw_nothing() -> None:
    image = rasterize(_scene(Rect(box=(5, 5, 5, 20), fill=RED), Rect(box=(9, 9, 20, 9), fill=RED)))
    assert not _ink(image).any()


def test_later_ops_paint_over_earlier_ones() -> None:
    image = rasterize(
        _scene(Rect(box=(0, 0, 10, 10), fill=RED), Rect(box=(5, 5, 15, 15), fill=BLUE))
    )
    assert (
        (image[2, 2] == RED).all() and (image[7, 7] == BLUE).all() and (image[12, 12] == BLUE).all()
    )


def test_line_covers_its_points_and_stays_in_its_bounds() -> None:
    line = Line(points=((5.0, 20.0), (40.0, 20.0)), width=1, fill=GREEN)
    image = rasterize(_scene(line))
    green = (image == GREEN).all(axis=2)
    assert green[20, 5:41].all()
    assert green.sum() == 36  # a one-pixel horizontal line, both ends included
    thick = Line(points=((5.0, 5.0), (30.5, 40.2), (60.0, 10.0)), width=2, fill=GREEN)
    image = rasterize(_scene(thick))
    green = (image == GREEN).all(axis=2)
    for x, y in ((5, 5), (30, 40), (60, 10), (17, 22), (45, 25)):  # vertices and midpoints
        assert green[y - 1 : y + 2, x - 1 : x + 2].any(), (x, y)
    assert not green[30, 10] and not green[10, 40]
    assert _inside(_ink_box(image), thick.bounds)


def test_ellipse_fills_its_box_with_an_outline() -> None:
    ellipse = Ellipse(box=(10, 5, 30, 25), fill=GREEN, outline=RED)
    image = rasterize(_scene(ellipse))
    assert (image[15, 20] == GREEN).all()  # centre
    assert (image[5, 20] == RED).all() and (image[15, 10] == RED).all()  # outline on the box
    assert (image[6, 11] == WHITE).all()  # the corner of the box is outside the ellipse
    assert _inside(_ink_box(image), ellipse.bounds)
    assert _ink_box(image) == (10, 5, 31, 26)  # Pillow includes the far edge


def test_wedge_covers_its_angles_clockwise_from_three_o_clock() -> None:
    wedge = Wedge(box=(0, 0, 40, 40), start=0, end=90, fill=BLUE, outline=BLUE)
    image = rasterize(_scene(wedge))
    blue = (image == BLUE).all(axis=2)
    assert blue[30, 30]  # lower right
    assert not blue[10, 10] and not blue[10, 30] and not blue[30, 10]
    assert _inside(_ink_box(image), wedge.bounds)
    full = Wedge(box=(0, 0, 40, 40), start=-90, end=270, fill=BLUE, outline=BLUE)
    assert (rasterize(_scene(full)) == BLUE).all(axis=2)[[10, 30, 10, 30], [10, 10, 30, 30]].all()


@pytest.mark.parametrize("anchor", ["lt", "mm", "rm", "mb", "lm", "mt", "rs"])
@pytest.mark.parametrize(("text", "size"), [("Apple 42", 12), ("$12,345.6", 5), ("Qj%", 9)])
def test_text_ink_lies_inside_its_measured_bounds(anchor: str, text: str, size: int) -> None:
    op = _text((100, 30), text, size=size, anchor=anchor)
    image = rasterize(_scene(op, width=200, height=60))
    ink = _ink_box(image)
    assert _inside(ink, op.bounds), (ink, op.bounds)
    # The bounds are the ink box, not a loose guess.
    assert all(abs(a - b) <= 1 for a, b in zip(ink, op.bounds, strict=True)), (ink, op.bounds)


@pytest.mark.parametrize("text", ["Northern Territories", "Lyon", "2024", "Qj"])
@pytest.mark.parametrize("size", [5, 10, 14])
def test_vertical_text_ink_lies_inside_its_measured_bounds(text: str, size: int) -> None:
    op = _text((40, 3), text, size=size, vertical=True)
    image = rasterize(_scene(op, width=80, height=160))
    ink = _ink_box(image)
    assert _inside(ink, op.bounds), (ink, op.bounds)
    x0, y0, x1, y1 = op.bounds
    assert y1 - y0 > x1 - x0 or len(text) <= 2  # tall, not wide
    assert y0 == 3  # the column starts at the anchor point


def test_vertical_text_reads_bottom_to_top() -> None:
    """A vertical label is the horizontal one turned a quarter counterclockwise."""
    size, text = 12, "Lake 7"
    flat = rasterize(_scene(_text((2, 2), text, size=size), width=100, height=30))
    tall = rasterize(_scene(_text((15, 2), text, size=size, vertical=True), width=30, height=100))
    fx0, fy0, fx1, fy1 = _ink_box(flat)
    tx0, ty0, tx1, ty1 = _ink_box(tall)
    turned = np.rot90(_ink(flat)[fy0:fy1, fx0:fx1])
    np.testing.assert_array_equal(_ink(tall)[ty0:ty1, tx0:tx1], turned)


# --- Scales and regions -----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 2, 3, 1.5, 2.5])
def test_output_size(scale: float) -> None:
    scene = _mixed_scene()
    assert rasterize(scene, scale).shape == (round(90 * scale), round(120 * scale), 3)
    for region in ([3, 7, 40, 29], [0, 0, 5, 5], [101, 13, 120, 90]):
        w, h = region[2] - region[0], region[3] - region[1]
        image = rasterize(scene, scale, region)
        assert image.shape == (round(h * scale), round(w * scale), 3)
        assert image.dtype == np.uint8


def test_mixed_scene_draws_every_op() -> None:
    image = rasterize(_mixed_scene())
    assert (image[80, 10] == BLUE).all() and (image[80, 40] == RED).all()
    assert (image[40, 64] == GREEN).all()  # the marker
    assert _ink(image).mean() > 0.15


def _random_regions(rng: np.random.Generator, width: int, height: int, n: int) -> list[list[int]]:
    regions = []
    for _ in range(n):
        x0, x1 = sorted(int(v) for v in rng.choice(width + 1, size=2, replace=False))
        y0, y1 = sorted(int(v) for v in rng.choice(height + 1, size=2, replace=False))
        regions.append([x0, y0, x1, y1])
    return regions


@pytest.mark.parametrize("scale", [1, 2, SOURCE_SCALE])
def test_region_raster_is_the_crop_of_the_full_raster(scale: int) -> None:
    scene = _mixed_scene()
    full = rasterize(scene, scale)
    rng = np.random.default_rng(scale)
    differing = []
    for x0, y0, x1, y1 in _random_regions(rng, scene.width, scene.height, 150):
        region = rasterize(scene, scale, [x0, y0, x1, y1])
        crop = full[scale * y0 : scale * y1, scale * x0 : scale * x1]
        assert region.shape == crop.shape
        if not np.array_equal(region, crop):
            differing.append(([x0, y0, x1, y1], int((region != crop).any(axis=2).sum())))
    assert not differing, (
        f"{len(differing)} of 150 regions differ (region, pixels): {differing[:5]}"
    )


@pytest.mark.parametrize("scale", [1, 2, SOURCE_SCALE])
def test_region_next_to_a_text_is_the_crop_of_the_full_raster(scale: int) -> None:
    """A region that ends where a text's measured box begins (or begins where it ends)
    still shows whatever of the text's ink reaches into it at this scale."""
    scene = _mixed_scene()
    full = rasterize(scene, scale)
    differing = []
    for op in scene.ops:
        if not isinstance(op, Text):
            continue
        x0, y0, x1, y1 = op.bounds
        beside = [
            [x1, y0 - 2, x1 + 6, y1 + 2],  # right of it
            [x0 - 6, y0 - 2, x0, y1 + 2],  # left of it
            [x0 - 2, y1, x1 + 2, y1 + 6],  # below it
            [x0 - 2, y0 - 6, x1 + 2, y0],  # above it
        ]
        for rx0, ry0, rx1, ry1 in beside:
            rx0, ry0 = max(rx0, 0), max(ry0, 0)
            rx1, ry1 = min(rx1, scene.width), min(ry1, scene.height)
            if rx1 <= rx0 or ry1 <= ry0:
                continue
            region = rasterize(scene, scale, [rx0, ry0, rx1, ry1])
            crop = full[scale * ry0 : scale * ry1, scale * rx0 : scale * rx1]
            if not np.array_equal(region, crop):
                differing.append((op.text, [rx0, ry0, rx1, ry1]))
    assert not differing, f"regions beside a text differ from the crop: {differing}"


@pytest.mark.parametrize("scale", [1, 2, SOURCE_SCALE])
def test_region_inside_a_wide_line_is_the_crop_of_the_full_raster(scale: int) -> None:
    """A region whose edge cuts through a polyline shows the same pixels as the full raster."""
    line = Line(points=((2.0, 40.0), (30.0, 8.0), (60.0, 30.0)), width=2, fill=GREEN)
    scene = _scene(line)
    full = rasterize(scene, scale)
    differing = []
    for x0 in range(4, 40, 3):
        for y0 in (5, 12, 20):
            region = [x0, y0, x0 + 20, y0 + 20]
            image = rasterize(scene, scale, region)
            crop = full[scale * y0 : scale * (y0 + 20), scale * x0 : scale * (x0 + 20)]
            if not np.array_equal(image, crop):
                differing.append(region)
    assert not differing, f"regions cutting the line differ from the crop: {differing}"


def test_ops_outside_a_region_are_skipped() -> None:
    # A region away from every op is pure background.
    scene = _mixed_scene()
    assert not _ink(rasterize(scene, 2, [0, 20, 4, 28])).any()
    # Ops are culled by their recorded bounds: a text that claims to sit elsewhere is not
    # drawn in a region over where its glyphs would be.
    honest = _text((10, 10), "Hidden", size=12)
    liar = Text(
        xy=honest.xy, text=honest.text, size=honest.size, face=honest.face, anchor=honest.anchor,
        fill=honest.fill, vertical=False, bounds=(50, 40, 60, 45),
    )  # fmt: skip
    region = [5, 5, 45, 30]
    assert _ink(rasterize(_scene(honest), 1, region)).any()
    assert not _ink(rasterize(_scene(liar), 1, region)).any()
    assert _ink(rasterize(_scene(liar))).any()  # drawn when its bounds are in view


def test_regions_are_independent_of_scene_order_of_unrelated_ops() -> None:
    a = Rect(box=(0, 0, 10, 10), fill=RED)
    b = Rect(box=(30, 30, 40, 40), fill=BLUE)
    for region in ([0, 0, 20, 20], [25, 25, 45, 45]):
        np.testing.assert_array_equal(
            rasterize(_scene(a, b), 2, region), rasterize(_scene(b, a), 2, region)
        )


# --- Text measure -------------------------------------------------------------------------------


def test_measure_text_follows_the_anchor() -> None:
    left = measure_text((50, 20), "Peru", 12, "sans", "lt")
    right = measure_text((50, 20), "Peru", 12, "sans", "rt")
    middle = measure_text((50, 20), "Peru", 12, "sans", "mt")
    width = left[2] - left[0]
    assert right[2] - right[0] == width == middle[2] - middle[0]
    assert abs(left[0] - 50) <= 1 and abs(right[2] - 50) <= 1
    assert abs((middle[0] + middle[2]) / 2 - 50) <= 1
    shifted = measure_text((60, 25), "Peru", 12, "sans", "lt")
    assert shifted == (left[0] + 10, left[1] + 5, left[2] + 10, left[3] + 5)
    assert measure_text((0, 0), "Peru", 24, "sans", "lt")[2] > left[2] - left[0]


def test_measure_vertical_text_swaps_width_and_height() -> None:
    flat = measure_text((0, 0), "Great Prairie Belt", 10, "sans", "lt")
    tall = measure_text((30, 4), "Great Prairie Belt", 10, "sans", "mt", vertical=True)
    assert tall[2] - tall[0] == flat[3] - flat[1]
    assert tall[3] - tall[1] == flat[2] - flat[0]
    assert tall[1] == 4 and tall[0] <= 30 <= tall[2]


# --- JSON -------------------------------------------------------------------------------------


def test_to_json_is_deterministic() -> None:
    a, b = _mixed_scene(), _mixed_scene()
    assert a is not b and a == b
    assert a.to_json() == b.to_json() == a.to_json()
    payload = json.loads(a.to_json())
    assert payload["size"] == [120, 90]
    assert payload["background"] == list(WHITE)
    assert [op["op"] for op in payload["ops"]][:4] == ["Rect", "Rect", "Rect", "Text"]
    assert len(payload["ops"]) == len(a.ops)


def test_to_json_changes_when_an_op_changes() -> None:
    base = _mixed_scene()
    ops = list(base.ops)
    variants = [
        [ops[0], Rect(box=(30, 30, 50, 87), fill=RED), *ops[2:]],  # a box
        [ops[0], Rect(box=(30, 30, 50, 88), fill=GREEN), *ops[2:]],  # a colour
        [*ops[:3], _text((60, 4), "Title 2025", size=13, anchor="mt"), *ops[4:]],  # a text
        [*ops[:3], _text((60, 4), "Title 2024", size=14, anchor="mt"), *ops[4:]],  # a size
        [ops[1], ops[0], *ops[2:]],  # the order
        ops[:-1],  # one op fewer
    ]
    seen = {base.to_json()}
    for variant in variants:
        text = Scene(
            width=base.width, height=base.height, background=WHITE, ops=tuple(variant)
        ).to_json()
        assert text not in seen
        seen.add(text)
    assert Scene(width=121, height=90, background=WHITE, ops=base.ops).to_json() not in seen
    assert Scene(width=120, height=90, background=(0, 0, 0), ops=base.ops).to_json() not in seen
