"""Tests of the chart tools (iapo_bench/tools/chart.py) on real generated chart tasks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pytest
from PIL import Image

import iapo_bench.envs  # noqa: F401  (registers the chart family)
from iapo_bench.core import Box, Element, ParseError, ParseErrorKind, Task, ToolCall, ToolResult
from iapo_bench.envs.chart.data import KINDS
from iapo_bench.envs.family import get_family
from iapo_bench.scene import SOURCE_SCALE
from iapo_bench.tools.chart import (
    BOX_COLOR,
    BOX_WIDTH,
    CHART_TOOLS,
    HIGHLIGHT_ALPHA,
    HIGHLIGHT_COLOR,
    MASK_COLOR,
    TARGETS,
    tools_for_targets,
)
from iapo_bench.tools.parser import format_tool_call, parse_action

TOOLS = {t.name: t for t in CHART_TOOLS}
FAMILY = get_family("chart")
MODES = ("mask", "draw", "highlight")
DIFFICULTIES = (0, 1, 2, 3)


def _collect_tasks() -> list[Task]:
    """One task of every kind at every difficulty."""
    return [
        FAMILY.generate("train", difficulty, KINDS.index(kind) + len(KINDS) * (difficulty + 1))
        for kind in KINDS
        for difficulty in DIFFICULTIES
    ]


TASKS = _collect_tasks()


def _task_id(task: Task) -> str:
    return f"{task.data['kind']}-d{task.difficulty}"


def _regions(task: Task, target: str) -> dict[str, Box]:
    return {e.key: e.box for e in task.elements if e.kind == target}


FOCUS_CASES = [(task, target) for task in TASKS for target in TARGETS if _regions(task, target)]
FOCUS_IDS = [f"{_task_id(task)}-{target}" for task, target in FOCUS_CASES]


def _focus(target: str, mode: str) -> str:
    return f"focus_on_{TARGETS[target]}_with_{mode}"


def _area(shape: tuple[int, ...], boxes: Iterable[Box]) -> np.ndarray:
    area = np.zeros(shape[:2], dtype=bool)
    for b in boxes:
        area[b.y0 : b.y1, b.x0 : b.x1] = True
    return area


def _band(shape: tuple[int, ...], box: Box, width: int) -> np.ndarray:
    band = _area(shape, [box])
    band[box.y0 + width : box.y1 - width, box.x0 + width : box.x1 - width] = False
    return band


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    assert a.shape == b.shape
    return (a != b).any(axis=2)


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def _name_choices(keys: list[str]) -> list[list[str]]:
    return [[keys[0]], [keys[1], keys[-1]], keys[:]]


def _highlighted(pixels: np.ndarray) -> np.ndarray:
    """The documented blend, in floating point."""
    blend = pixels.astype(np.float64) * (1 - HIGHLIGHT_ALPHA)
    blend += HIGHLIGHT_COLOR.astype(np.float64) * HIGHLIGHT_ALPHA
    return np.rint(blend).astype(np.uint8)


def _rebuild(task: Task, **changes: object) -> Task:
    """A task made by hand from a generated one's fields (``source_image`` given as an array
    unless ``changes`` say otherwise)."""
    fields = {name: getattr(task, name) for name in Task.model_fields}
    fields["source_image"] = task.source_image
    fields.update(changes)
    return Task(**fields)


def test_tasks_cover_every_kind_difficulty_and_target() -> None:
    assert {(t.data["kind"], t.difficulty) for t in TASKS} == {
        (k, d) for k in KINDS for d in DIFFICULTIES
    }
    assert {target for _, target in FOCUS_CASES} == set(TARGETS)
    assert not [t for t in TASKS if t.data["kind"] == "pie" and _regions(t, "x_value")]


# --- Focus tools: mask, draw, highlight --------------------------------------------------------


@pytest.mark.parametrize(("task", "target"), FOCUS_CASES, ids=FOCUS_IDS)
def test_mask_blanks_exactly_the_other_regions(task: Task, target: str) -> None:
    tool = TOOLS[_focus(target, "mask")]
    regions = _regions(task, target)
    before = _digest(task.image)
    for names in _name_choices(list(regions)):
        result = tool({"labels": names}, task=task)
        assert result.ok, result.error
        image = result.image
        assert image is not None and image.shape == task.image.shape and image.dtype == np.uint8
        others = [box for key, box in regions.items() if key not in names]
        changed = _changed(image, task.image)
        assert not (changed & ~_area(image.shape, others)).any(), (task.id, names)
        for box in others:
            assert (image[box.y0 : box.y1, box.x0 : box.x1] == MASK_COLOR).all(), (task.id, box)
        for name in names:
            box = regions[name]
            np.testing.assert_array_equal(
                image[box.y0 : box.y1, box.x0 : box.x1],
                task.image[box.y0 : box.y1, box.x0 : box.x1],
            )
            assert name in result.text
        if others:
            assert changed.any()  # the other regions held marks, now blanked
    assert _digest(task.image) == before
    assert not task.image.flags.writeable


@pytest.mark.parametrize(("task", "target"), FOCUS_CASES, ids=FOCUS_IDS)
def test_draw_paints_only_the_box_band_of_named_regions(task: Task, target: str) -> None:
    tool = TOOLS[_focus(target, "draw")]
    regions = _regions(task, target)
    before = _digest(task.image)
    for names in _name_choices(list(regions)):
        result = tool({"labels": names}, task=task)
        assert result.ok, result.error
        image = result.image
        assert image is not None and image.shape == task.image.shape
        bands = np.zeros(image.shape[:2], dtype=bool)
        for name in names:
            band = _band(image.shape, regions[name], BOX_WIDTH)
            assert (image[band] == BOX_COLOR).all(), (task.id, name)
            bands |= band
        changed = _changed(image, task.image)
        assert not (changed & ~bands).any(), (task.id, names)
        np.testing.assert_array_equal(image[~bands], task.image[~bands])
        assert changed.any()
    assert _digest(task.image) == before


@pytest.mark.parametrize(("task", "target"), FOCUS_CASES, ids=FOCUS_IDS)
def test_highlight_blends_only_the_named_regions(task: Task, target: str) -> None:
    tool = TOOLS[_focus(target, "highlight")]
    regions = _regions(task, target)
    before = _digest(task.image)
    expected = _highlighted(task.image)
    for names in _name_choices(list(regions)):
        result = tool({"labels": names}, task=task)
        assert result.ok, result.error
        image = result.image
        assert image is not None and image.shape == task.image.shape
        inside = _area(image.shape, [regions[n] for n in names])
        np.testing.assert_array_equal(image[inside], expected[inside], err_msg=task.id)
        np.testing.assert_array_equal(image[~inside], task.image[~inside], err_msg=task.id)
        # Mostly white background: nearly every highlighted pixel visibly changes.
        assert _changed(image, task.image)[inside].mean() > 0.5
    assert _digest(task.image) == before


def _palette_task() -> Task:
    """A hand-made task whose one x value region holds every pixel value 0-255 per channel."""
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    image = np.stack([values, values[::-1], values.T], axis=2).copy()
    return _rebuild(
        TASKS[0],
        image=image,
        source_image=image,
        scene=None,
        elements=(Element("x_value", "All", Box(0, 0, 16, 16)),),
    )


def test_highlight_formula_is_exact_for_every_pixel_value() -> None:
    task = _palette_task()
    result = TOOLS["focus_on_x_values_with_highlight"]({"labels": ["all"]}, task=task)
    assert result.ok, result.error
    for channel in range(3):
        pixels = task.image[..., channel].ravel()
        assert sorted(pixels.tolist()) == list(range(256))
        tint = float(HIGHLIGHT_COLOR[channel])
        expected = np.rint(pixels * (1 - HIGHLIGHT_ALPHA) + tint * HIGHLIGHT_ALPHA)
        np.testing.assert_array_equal(result.image[..., channel].ravel(), expected.astype(np.uint8))


@pytest.mark.parametrize("mode", MODES)
def test_labels_match_case_insensitively(mode: str) -> None:
    for task, target in FOCUS_CASES[::3]:
        tool = TOOLS[_focus(target, mode)]
        name = list(_regions(task, target))[1]
        reference = tool({"labels": [name]}, task=task)
        assert reference.ok
        for variant in ([name.upper()], [name.lower()], [f"  {name.swapcase()} "], [name, name]):
            result = tool({"labels": variant}, task=task)
            assert result.ok, (variant, result.error)
            np.testing.assert_array_equal(result.image, reference.image)
            assert result.text == reference.text


@pytest.mark.parametrize("mode", MODES)
def test_unknown_label_is_an_error_listing_the_labels(mode: str) -> None:
    for task, target in FOCUS_CASES[::2]:
        tool = TOOLS[_focus(target, mode)]
        keys = list(_regions(task, target))
        result = tool({"labels": [keys[0], "Atlantis"]}, task=task)
        assert isinstance(result, ToolResult)
        assert not result.ok and result.image is None
        assert "Atlantis" in result.error
        assert not result.error.startswith(("KeyError", "ValueError", "TypeError")), result.error
        for key in keys:
            assert key in result.error, (task.id, key)


@pytest.mark.parametrize("mode", MODES)
def test_focus_tools_of_absent_targets_are_errors(mode: str) -> None:
    for task in TASKS[::3]:
        for target in TARGETS:
            if _regions(task, target):
                continue
            name = _focus(target, mode)
            assert name not in task.tool_names, task.id
            result = TOOLS[name]({"labels": [task.data["categories"][0]]}, task=task)
            assert not result.ok and result.image is None, (task.id, name)


@pytest.mark.parametrize("mode", MODES)
def test_empty_label_list_is_invalid_arguments(mode: str) -> None:
    task, target = FOCUS_CASES[0]
    name = _focus(target, mode)
    result = TOOLS[name]({"labels": []}, task=task)
    assert not result.ok and result.image is None
    assert "labels" in result.error
    text = format_tool_call(ToolCall(name=name, arguments={"labels": []}))
    parsed = parse_action(text, tools_for_targets([target]))
    assert isinstance(parsed, ParseError)
    assert parsed.error is ParseErrorKind.INVALID_ARGUMENTS


def test_tools_for_targets() -> None:
    assert [t.name for t in tools_for_targets(["x_value"])] == [
        "focus_on_x_values_with_mask",
        "focus_on_x_values_with_draw",
        "focus_on_x_values_with_highlight",
        "crop",
        "zoom",
    ]
    names = [t.name for t in tools_for_targets(("row", "column"))]
    assert names[:3] == [f"focus_on_rows_with_{m}" for m in MODES]
    assert names[3:6] == [f"focus_on_columns_with_{m}" for m in MODES]
    assert [t.name for t in tools_for_targets(())] == ["crop", "zoom"]
    assert len(CHART_TOOLS) == len(TARGETS) * len(MODES) + 2


def test_tool_schemas_hide_the_task() -> None:
    for tool in CHART_TOOLS:
        schema = tool.schema
        assert "task" not in schema["function"]["parameters"]["properties"], tool.name
        assert schema["function"]["name"] == tool.name
    assert set(TOOLS["zoom"].schema["function"]["parameters"]["required"]) == {"box"}


# --- crop and zoom ----------------------------------------------------------------------------


def _boxes(task: Task) -> list[list[int]]:
    """Boxes inside the task's image: the whole image, a few fixed ones, a few thin ones."""
    height, width = task.image.shape[:2]
    return [
        [0, 0, width, height],
        [10, 20, 110, 70],
        [width // 3, height // 4, width // 3 + 33, height // 4 + 17],
        [width - 4, height - 4, width, height],
        [width // 2, 0, width // 2 + 4, height],
    ]


@pytest.mark.parametrize("task", TASKS[::4], ids=_task_id)
def test_crop_returns_exactly_the_shown_pixels(task: Task) -> None:
    crop = TOOLS["crop"]
    height, width = task.image.shape[:2]
    for x0, y0, x1, y1 in _boxes(task):
        result = crop({"box": [x0, y0, x1, y1]}, task=task)
        assert result.ok, result.error
        np.testing.assert_array_equal(result.image, task.image[y0:y1, x0:x1])
        assert not np.shares_memory(result.image, task.image)
    # Partly outside: clipped to the image.
    result = crop({"box": [-5, -7, 20, 30]}, task=task)
    np.testing.assert_array_equal(result.image, task.image[0:30, 0:20])
    result = crop({"box": [width - 20, height - 20, width + 40, height + 80]}, task=task)
    np.testing.assert_array_equal(result.image, task.image[height - 20 :, width - 20 :])


@pytest.mark.parametrize(
    ("box", "factor"),
    [
        ([10, 20, 110, 70], 1.0),
        ([10, 20, 110, 70], 2.0),
        ([10, 20, 110, 70], 2.5),
        ([100, 100, 133, 117], 1.3),
        ([100, 100, 133, 117], 4.0),
        ([300, 50, 305, 55], 2.5),
        ([301, 51, 308, 58], 1.7),
        ([0, 0, 520, 400], 1.5),
        ([0, 0, 520, 400], 3.0),
    ],
)
def test_zoom_size(box: list[int], factor: float) -> None:
    for task in TASKS[::9]:
        result = TOOLS["zoom"]({"box": box, "factor": factor}, task=task)
        assert result.ok, result.error
        width, height = box[2] - box[0], box[3] - box[1]
        assert result.image.shape == (round(height * factor), round(width * factor), 3)
        assert result.image.dtype == np.uint8
        assert f"{result.image.shape[1]}x{result.image.shape[0]}" in result.text


def test_zoom_default_factor_is_two() -> None:
    result = TOOLS["zoom"]({"box": [10, 20, 110, 70]}, task=TASKS[0])
    assert result.image.shape == (100, 200, 3)


@pytest.mark.parametrize("task", TASKS[1::9], ids=_task_id)
def test_zoom_clips_boxes_partly_outside(task: Task) -> None:
    height, width = task.image.shape[:2]
    cases = [
        ([-10, -10, 50, 40], [0, 0, 50, 40]),
        (
            [width - 60, height - 40, width + 140, height + 80],
            [width - 60, height - 40, width, height],
        ),
        ([-100, 200, width + 100, 230], [0, 200, width, 230]),
    ]
    for box, clipped in cases:
        result = TOOLS["zoom"]({"box": box, "factor": 2}, task=task)
        assert result.ok, result.error
        reference = TOOLS["zoom"]({"box": clipped, "factor": 2}, task=task)
        w, h = clipped[2] - clipped[0], clipped[3] - clipped[1]
        assert result.image.shape == (2 * h, 2 * w, 3)
        np.testing.assert_array_equal(result.image, reference.image)
        assert str(clipped) in result.text


@pytest.mark.parametrize(
    "box",
    [
        [50, 50, 50, 100],  # x1 == x0
        [60, 50, 40, 100],  # x1 < x0
        [50, 90, 100, 60],  # y1 < y0
        [10, 10, 13, 13],  # tiny
        [10, 10, 100, 12],  # a sliver
        [5000, 5000, 5100, 5100],  # fully outside
        [-50, -50, -10, -10],  # fully outside
        [-50, 10, 3, 100],  # only 3 px inside
    ],
)
@pytest.mark.parametrize("name", ["zoom", "crop"])
def test_degenerate_boxes_are_error_results(box: list[int], name: str) -> None:
    result = TOOLS[name]({"box": box}, task=TASKS[0])
    assert isinstance(result, ToolResult)
    assert not result.ok and result.image is None
    assert "4x4" in result.error


@pytest.mark.parametrize("box", [[1, 2, 3], [1, 2, 3, 4, 5], "0,0,10,10", [0.5, 0, 10, 10]])
def test_malformed_boxes_are_error_results(box: object) -> None:
    for name in ("zoom", "crop"):
        result = TOOLS[name]({"box": box}, task=TASKS[0])
        assert not result.ok and result.image is None
        assert "box" in result.error


@pytest.mark.parametrize("factor", [0, 0.5, 0.99, 4.01, 10, -2])
def test_zoom_factor_outside_one_to_four_is_an_error(factor: float) -> None:
    result = TOOLS["zoom"]({"box": [10, 20, 110, 70], "factor": factor}, task=TASKS[0])
    assert not result.ok and result.image is None
    assert "factor" in result.error


@pytest.mark.parametrize("factor", [1, 4])
def test_zoom_factor_bounds_are_inclusive(factor: float) -> None:
    result = TOOLS["zoom"]({"box": [10, 20, 110, 70], "factor": factor}, task=TASKS[0])
    assert result.ok, result.error


def _zoom_boxes(task: Task, rng: np.random.Generator) -> list[list[int]]:
    """What agents zoom on: labels, marks and regions (as recorded), the evidence, random."""
    height, width = task.image.shape[:2]
    boxes = [[0, 0, width, height]]
    for kind in ("value_label", "cell", "bar", "category_label", "x_value", "y_value", "row"):
        boxes += [e.box.as_list() for e in task.elements if e.kind == kind][:3]
    evidence = [e.box for e in task.elements if e.key in task.evidence]
    if evidence:
        union = evidence[0]
        for box in evidence[1:]:
            union = union.union(box)
        boxes.append(union.as_list())
    for _ in range(6):
        x0, x1 = sorted(int(v) for v in rng.choice(width + 1, size=2, replace=False))
        y0, y1 = sorted(int(v) for v in rng.choice(height + 1, size=2, replace=False))
        boxes.append([x0, y0, x1, y1])
    return [b for b in boxes if b[2] - b[0] >= 4 and b[3] - b[1] >= 4]


def test_zoom_at_source_scale_is_exactly_the_source() -> None:
    """Both are rasters of the same scene, so a zoom at SOURCE_SCALE is a crop of the source."""
    rng = np.random.default_rng(7)
    s = SOURCE_SCALE
    mismatches = []
    checked = 0
    for task in TASKS:
        for x0, y0, x1, y1 in _zoom_boxes(task, rng):
            result = TOOLS["zoom"]({"box": [x0, y0, x1, y1], "factor": s}, task=task)
            assert result.ok, result.error
            source = task.source_image[s * y0 : s * y1, s * x0 : s * x1]
            assert result.image.shape == source.shape
            checked += 1
            if not np.array_equal(result.image, source):
                differing = int(_changed(result.image, source).sum())
                mismatches.append((task.id, [x0, y0, x1, y1], f"{differing} px differ"))
    assert checked > 400
    assert not mismatches, f"{len(mismatches)} of {checked} zooms differ: {mismatches[:6]}"


def _edge_energy(image: np.ndarray) -> float:
    grey = image.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def _sharpness(image: np.ndarray) -> float:
    """Mean absolute Laplacian: high for crisp glyph edges, low for blurred ones."""
    g = image.astype(np.float64).mean(axis=2)
    laplacian = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(np.abs(laplacian).mean())


def _dark_fraction(image: np.ndarray) -> float:
    return float((image.astype(int).sum(axis=2) < 300).mean())


def _colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, 3), axis=0))


FINE_PRINT = [
    t for t in TASKS if t.difficulty == 3 and t.data["kind"] not in ("stacked_vbar", "stacked_hbar")
]


@pytest.mark.parametrize("task", FINE_PRINT, ids=_task_id)
def test_zoom_reveals_fine_print_at_difficulty_three(task: Task) -> None:
    """A zoom re-renders value labels at 4x: far more detail than the shown pixels enlarged
    (what an OCR model gets from the shown image alone)."""
    labels = [e for e in task.elements if e.kind in ("value_label", "cell")]
    assert labels
    for label in labels[:4]:
        b = label.box
        assert min(b.width, b.height) <= 6, label  # fine print (standing labels: width)
        box = [b.x0 - 2, b.y0 - 2, b.x1 + 2, b.y1 + 2]
        zoomed = TOOLS["zoom"]({"box": box, "factor": 4}, task=task).image
        shown = TOOLS["crop"]({"box": box}, task=task).image
        enlarged = np.asarray(
            Image.fromarray(shown).resize(
                (zoomed.shape[1], zoomed.shape[0]), Image.Resampling.BICUBIC
            )
        )
        assert zoomed.shape == enlarged.shape == (4 * shown.shape[0], 4 * shown.shape[1], 3)
        # Measured over these tasks: 3-5x the colours, 1.5-1.9x the edge energy and
        # 4.3-5.6x the sharpness of the enlarged shown pixels.
        assert _colours(zoomed) > 2 * _colours(shown), label.text
        assert _edge_energy(zoomed) > 1.3 * _edge_energy(enlarged), label.text
        assert _sharpness(zoomed) > 3 * _sharpness(enlarged), label.text
        assert _dark_fraction(zoomed) > 0.04, label.text  # the glyphs really are there


@pytest.mark.parametrize("task", TASKS[::5], ids=_task_id)
def test_zoom_without_a_scene_crops_and_resizes_the_source(task: Task) -> None:
    bare = _rebuild(task, scene=None)
    assert bare.scene is None
    s = SOURCE_SCALE
    height, width = task.image.shape[:2]
    for box, factor in [
        ([10, 20, 110, 70], 2.0),
        ([5, 5, 48, 31], 1.3),
        ([0, 0, width, height], 1.0),
    ]:
        result = TOOLS["zoom"]({"box": box, "factor": factor}, task=bare)
        assert result.ok, result.error
        w, h = box[2] - box[0], box[3] - box[1]
        assert result.image.shape == (round(h * factor), round(w * factor), 3)
        # Close to the scene's own zoom (other rasters of the same scene).
        scene_zoom = TOOLS["zoom"]({"box": box, "factor": factor}, task=task).image
        assert np.abs(result.image.astype(int) - scene_zoom.astype(int)).mean() < 20
    x0, y0, x1, y1 = 10, 20, 110, 70
    result = TOOLS["zoom"]({"box": [x0, y0, x1, y1], "factor": s}, task=bare)
    np.testing.assert_array_equal(result.image, task.source_image[s * y0 : s * y1, s * x0 : s * x1])


def test_tools_never_modify_the_task() -> None:
    for task, target in FOCUS_CASES[::4]:
        before, source_before = _digest(task.image), _digest(task.source_image)
        scene_before = task.scene.to_json()
        keys = list(_regions(task, target))[:2]
        for mode in MODES:
            TOOLS[_focus(target, mode)]({"labels": keys}, task=task)
        TOOLS["crop"]({"box": [0, 0, 100, 100]}, task=task)
        TOOLS["zoom"]({"box": [0, 0, 100, 100], "factor": 3}, task=task)
        assert _digest(task.image) == before
        assert _digest(task.source_image) == source_before
        assert task.scene.to_json() == scene_before
        assert not task.image.flags.writeable


def test_tool_results_do_not_share_memory_with_the_task() -> None:
    task, target = FOCUS_CASES[0]
    key = next(iter(_regions(task, target)))
    results = [TOOLS[_focus(target, mode)]({"labels": [key]}, task=task) for mode in MODES]
    results.append(TOOLS["crop"]({"box": [0, 0, 50, 50]}, task=task))
    results.append(TOOLS["zoom"]({"box": [0, 0, 50, 50]}, task=task))
    results.append(TOOLS["zoom"]({"box": [0, 0, 50, 50], "factor": SOURCE_SCALE}, task=task))
    for result in results:
        assert result.ok, result.error
        assert not np.shares_memory(result.image, task.image)
        assert not np.shares_memory(result.image, task.source_image)


def test_each_tool_declares_what_it_looked_at():
    task = next(t for t in TASKS if _regions(t, "x_value"))
    key = next(iter(_regions(task, "x_value")))
    focus = TOOLS["focus_on_x_values_with_mask"]({"labels": [key.upper()]}, task=task).focus
    assert focus is not None and focus.keys == (key,) and focus.boxes == ()
    height, width = task.image.shape[:2]
    for name in ("crop", "zoom"):
        result = TOOLS[name]({"box": [-5, 3, 40, 30]}, task=task)
        assert result.focus.boxes == (Box(0, 3, 40, 30),), name  # the clipped region
    failed = TOOLS["zoom"]({"box": [0, 0, 2, 2]}, task=task)
    assert failed.error is not None and failed.focus is None
    assert width > 40 and height > 30
