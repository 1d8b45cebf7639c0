"""Tests of the chart tools (iapo_bench/tools/chart.py) on real rendered chart tasks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pytest
from PIL import Image

import iapo_bench.envs  # noqa: F401  (registers the chart family)
from iapo_bench.core import Box, ParseError, ParseErrorKind, Task, ToolCall, ToolResult
from iapo_bench.envs.chart.render import SCALE
from iapo_bench.envs.family import get_family
from iapo_bench.tools.chart import (
    BOX_COLOR,
    BOX_WIDTH,
    CHART_TOOLS,
    HIGHLIGHT_ALPHA,
    HIGHLIGHT_COLOR,
    MASK_COLOR,
    tools_for_orientation,
)
from iapo_bench.tools.parser import format_tool_call, parse_action

TOOLS = {t.name: t for t in CHART_TOOLS}
FAMILY = get_family("chart")
MODES = ("mask", "draw", "highlight")


def _collect_tasks() -> list[Task]:
    """Two vertical and two horizontal charts per difficulty."""
    out = []
    for difficulty in FAMILY.difficulties:
        found = {"vertical": 0, "horizontal": 0}
        seed = 0
        while min(found.values()) < 2:
            task = FAMILY.generate("train", difficulty, seed)
            orientation = task.data["orientation"]
            if found[orientation] < 2:
                found[orientation] += 1
                out.append(task)
            seed += 1
    return out


TASKS = _collect_tasks()
TASK_IDS = [t.id for t in TASKS]


def _axis(task: Task) -> str:
    return "x" if task.data["orientation"] == "vertical" else "y"


def _regions(task: Task) -> dict[str, Box]:
    return {e.key: e.box for e in task.elements if e.kind == f"{_axis(task)}_value"}


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


def _name_choices(task: Task) -> list[list[str]]:
    categories = list(task.data["categories"])
    return [[categories[0]], [categories[1], categories[-1]], categories[:]]


def test_tasks_cover_both_orientations_and_every_difficulty() -> None:
    assert {(t.difficulty, t.data["orientation"]) for t in TASKS} == {
        (d, o) for d in FAMILY.difficulties for o in ("vertical", "horizontal")
    }


# --- Focus tools: mask, draw, highlight --------------------------------------------------


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_mask_changes_only_the_other_regions(task: Task) -> None:
    tool = TOOLS[f"focus_on_{_axis(task)}_values_with_mask"]
    regions = _regions(task)
    bars = {e.key: e.box for e in task.elements if e.kind == "bar"}
    before = _digest(task.image)
    for names in _name_choices(task):
        result = tool({"labels": names}, task=task)
        assert result.ok, result.error
        image = result.image
        assert image is not None and image.shape == task.image.shape and image.dtype == np.uint8
        others = [regions[k] for k in regions if k not in names]
        allowed = _area(image.shape, others)
        changed = _changed(image, task.image)
        assert not (changed & ~allowed).any(), (task.id, names)
        for key in regions:
            bar = bars[key]
            if key in names:
                np.testing.assert_array_equal(
                    image[bar.y0 : bar.y1, bar.x0 : bar.x1],
                    task.image[bar.y0 : bar.y1, bar.x0 : bar.x1],
                )
            else:
                assert (image[bar.y0 : bar.y1, bar.x0 : bar.x1] == MASK_COLOR).all(), key
                r = regions[key]
                assert (image[r.y0 : r.y1, r.x0 : r.x1] == MASK_COLOR).all(), key
        if len(names) < len(regions):
            assert changed.any()  # the other bars really were blanked
        for name in names:
            assert name in result.text
    assert _digest(task.image) == before
    assert not task.image.flags.writeable


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_draw_changes_only_the_box_band_of_named_regions(task: Task) -> None:
    tool = TOOLS[f"focus_on_{_axis(task)}_values_with_draw"]
    regions = _regions(task)
    before = _digest(task.image)
    for names in _name_choices(task):
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
        assert changed.any()
    assert _digest(task.image) == before


@pytest.mark.parametrize("task", TASKS, ids=TASK_IDS)
def test_highlight_blends_only_the_named_regions(task: Task) -> None:
    tool = TOOLS[f"focus_on_{_axis(task)}_values_with_highlight"]
    regions = _regions(task)
    before = _digest(task.image)
    for names in _name_choices(task):
        result = tool({"labels": names}, task=task)
        assert result.ok, result.error
        image = result.image
        assert image is not None and image.shape == task.image.shape
        inside = _area(image.shape, [regions[n] for n in names])
        changed = _changed(image, task.image)
        assert not (changed & ~inside).any(), (task.id, names)
        source = task.image.astype(np.float64)
        expected = np.rint(source * (1 - HIGHLIGHT_ALPHA) + HIGHLIGHT_COLOR * HIGHLIGHT_ALPHA)
        expected = expected.astype(np.uint8)
        np.testing.assert_array_equal(image[inside], expected[inside])
        np.testing.assert_array_equal(image[~inside], task.image[~inside])
        # White background becomes a visible yellow tint.
        assert changed[inside].mean() > 0.9
    assert _digest(task.image) == before


@pytest.mark.parametrize("mode", MODES)
def test_labels_match_case_insensitively(mode: str) -> None:
    for task in TASKS[::3]:
        tool = TOOLS[f"focus_on_{_axis(task)}_values_with_{mode}"]
        name = task.data["categories"][1]
        reference = tool({"labels": [name]}, task=task)
        assert reference.ok
        for variant in ([name.upper()], [name.lower()], [f"  {name.swapcase()} "], [name, name]):
            result = tool({"labels": variant}, task=task)
            assert result.ok, (variant, result.error)
            np.testing.assert_array_equal(result.image, reference.image)
            assert result.text == reference.text


@pytest.mark.parametrize("mode", MODES)
def test_unknown_label_is_an_error_listing_the_labels(mode: str) -> None:
    for task in TASKS[::2]:
        tool = TOOLS[f"focus_on_{_axis(task)}_values_with_{mode}"]
        name = task.data["categories"][0]
        result = tool({"labels": [name, "Atlantis"]}, task=task)
        assert isinstance(result, ToolResult)
        assert not result.ok and result.image is None
        assert "Atlantis" in result.error
        for category in task.data["categories"]:
            assert category in result.error, (task.id, category)


@pytest.mark.parametrize("mode", MODES)
def test_tool_of_the_other_axis_is_an_error(mode: str) -> None:
    for task in TASKS[::2]:
        other = "y" if _axis(task) == "x" else "x"
        result = TOOLS[f"focus_on_{other}_values_with_{mode}"](
            {"labels": [task.data["categories"][0]]}, task=task
        )
        assert not result.ok and result.image is None


@pytest.mark.parametrize("mode", MODES)
def test_empty_label_list_is_invalid_arguments(mode: str) -> None:
    task = TASKS[0]
    name = f"focus_on_{_axis(task)}_values_with_{mode}"
    result = TOOLS[name]({"labels": []}, task=task)
    assert not result.ok and result.image is None
    assert "labels" in result.error
    text = format_tool_call(ToolCall(name=name, arguments={"labels": []}))
    parsed = parse_action(text, tools_for_orientation(task.data["orientation"]))
    assert isinstance(parsed, ParseError)
    assert parsed.error is ParseErrorKind.INVALID_ARGUMENTS


# --- crop and zoom -----------------------------------------------------------------------


BOXES = [[0, 0, 560, 420], [10, 20, 110, 70], [100, 100, 133, 117], [300, 50, 304, 54]]


@pytest.mark.parametrize("task", TASKS[:4], ids=TASK_IDS[:4])
def test_crop_returns_exactly_the_shown_pixels(task: Task) -> None:
    crop = TOOLS["crop"]
    for x0, y0, x1, y1 in BOXES:
        result = crop({"box": [x0, y0, x1, y1]}, task=task)
        assert result.ok, result.error
        np.testing.assert_array_equal(result.image, task.image[y0:y1, x0:x1])
    # Partly outside: clipped to the image.
    result = crop({"box": [-5, -7, 20, 30]}, task=task)
    np.testing.assert_array_equal(result.image, task.image[0:30, 0:20])
    result = crop({"box": [540, 400, 600, 500]}, task=task)
    np.testing.assert_array_equal(result.image, task.image[400:420, 540:560])


@pytest.mark.parametrize(
    "box, factor",
    [
        ([10, 20, 110, 70], 1.0),
        ([10, 20, 110, 70], 2.0),
        ([10, 20, 110, 70], 2.5),
        ([100, 100, 133, 117], 1.3),
        ([100, 100, 133, 117], 4.0),
        ([300, 50, 305, 55], 2.5),
        ([0, 0, 560, 420], 1.5),
    ],
)
def test_zoom_size(box: list[int], factor: float) -> None:
    task = TASKS[0]
    result = TOOLS["zoom"]({"box": box, "factor": factor}, task=task)
    assert result.ok, result.error
    width, height = box[2] - box[0], box[3] - box[1]
    assert result.image.shape == (round(height * factor), round(width * factor), 3)
    assert result.image.dtype == np.uint8


def test_zoom_default_factor_is_two() -> None:
    result = TOOLS["zoom"]({"box": [10, 20, 110, 70]}, task=TASKS[0])
    assert result.image.shape == (100, 200, 3)


@pytest.mark.parametrize(
    "box, clipped",
    [
        ([-10, -10, 50, 40], [0, 0, 50, 40]),
        ([500, 380, 700, 500], [500, 380, 560, 420]),
        ([-100, 200, 1000, 230], [0, 200, 560, 230]),
    ],
)
def test_zoom_clips_boxes_partly_outside(box: list[int], clipped: list[int]) -> None:
    task = TASKS[1]
    result = TOOLS["zoom"]({"box": box, "factor": 2}, task=task)
    assert result.ok, result.error
    reference = TOOLS["zoom"]({"box": clipped, "factor": 2}, task=task)
    width, height = clipped[2] - clipped[0], clipped[3] - clipped[1]
    assert result.image.shape == (2 * height, 2 * width, 3)
    np.testing.assert_array_equal(result.image, reference.image)


@pytest.mark.parametrize(
    "box",
    [
        [50, 50, 50, 100],  # x1 == x0
        [60, 50, 40, 100],  # x1 < x0
        [50, 90, 100, 60],  # y1 < y0
        [10, 10, 13, 13],  # tiny
        [10, 10, 100, 12],  # a sliver
        [600, 500, 700, 600],  # fully outside
        [-50, -50, -10, -10],  # fully outside
        [556, 10, 600, 100],  # only 4 px... of which less than 4 inside
    ],
)
@pytest.mark.parametrize("name", ["zoom", "crop"])
def test_degenerate_boxes_are_error_results(box: list[int], name: str) -> None:
    if box == [556, 10, 600, 100]:
        box = [557, 10, 600, 100]  # 3 px inside the 560-wide image
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


@pytest.mark.parametrize("task", TASKS[::2], ids=TASK_IDS[::2])
def test_zoom_at_two_reproduces_the_source(task: Task) -> None:
    assert SCALE == 2
    boxes = [[10, 20, 110, 70], [200, 150, 260, 400], [0, 0, 560, 420]]
    boxes += [e.box.as_list() for e in task.elements if e.kind == "value_label"][:3]
    for x0, y0, x1, y1 in boxes:
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        result = TOOLS["zoom"]({"box": [x0, y0, x1, y1], "factor": 2}, task=task)
        assert result.ok, result.error
        source = task.source_image[2 * y0 : 2 * y1, 2 * x0 : 2 * x1]
        assert result.image.shape == source.shape
        difference = np.abs(result.image.astype(int) - source.astype(int))
        assert difference.mean() < 2, (task.id, [x0, y0, x1, y1])


def _edge_energy(image: np.ndarray) -> float:
    grey = image.astype(np.float64).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def _dark_fraction(image: np.ndarray) -> float:
    return float((image.astype(int).sum(axis=2) < 300).mean())


def _colours(image: np.ndarray) -> int:
    return len(np.unique(image.reshape(-1, 3), axis=0))


@pytest.mark.parametrize("task", [t for t in TASKS if t.difficulty == 2], ids=lambda t: t.id)
def test_zoom_reveals_fine_print_of_difficulty_two(task: Task) -> None:
    labels = [e for e in task.elements if e.kind == "value_label"]
    assert labels
    for label in labels[:4]:
        b = label.box
        box = [b.x0 - 2, b.y0 - 2, b.x1 + 2, b.y1 + 2]
        assert b.height <= 6  # fine print in the shown image
        zoomed = TOOLS["zoom"]({"box": box, "factor": 4}, task=task).image
        shown = TOOLS["crop"]({"box": box}, task=task).image
        # What a zoom of the shown image alone could give: the same pixels, enlarged.
        enlarged = np.asarray(
            Image.fromarray(shown).resize(
                (zoomed.shape[1], zoomed.shape[0]), Image.Resampling.BICUBIC
            )
        )
        assert _colours(zoomed) > _colours(shown), label.text
        assert _edge_energy(zoomed) > 1.3 * _edge_energy(enlarged), label.text
        assert _dark_fraction(zoomed) > 0.03
        assert _dark_fraction(zoomed) > 2 * _dark_fraction(shown), label.text


def test_tools_never_modify_the_task_image() -> None:
    for task in TASKS[::3]:
        before, source_before = _digest(task.image), _digest(task.source_image)
        axis = _axis(task)
        for mode in MODES:
            TOOLS[f"focus_on_{axis}_values_with_{mode}"](
                {"labels": list(task.data["categories"])[:2]}, task=task
            )
        TOOLS["crop"]({"box": [0, 0, 100, 100]}, task=task)
        TOOLS["zoom"]({"box": [0, 0, 100, 100], "factor": 3}, task=task)
        assert _digest(task.image) == before
        assert _digest(task.source_image) == source_before
        assert not task.image.flags.writeable


def test_tool_results_do_not_share_memory_with_the_task() -> None:
    task = TASKS[0]
    axis = _axis(task)
    results = [
        TOOLS[f"focus_on_{axis}_values_with_{mode}"](
            {"labels": [task.data["categories"][0]]}, task=task
        )
        for mode in MODES
    ]
    results.append(TOOLS["crop"]({"box": [0, 0, 50, 50]}, task=task))
    results.append(TOOLS["zoom"]({"box": [0, 0, 50, 50]}, task=task))
    for result in results:
        assert not np.shares_memory(result.image, task.image)
        assert not np.shares_memory(result.image, task.source_image)


def test_tools_for_orientation() -> None:
    assert [t.name for t in tools_for_orientation("vertical")] == [
        "focus_on_x_values_with_mask",
        "focus_on_x_values_with_draw",
        "focus_on_x_values_with_highlight",
        "crop",
        "zoom",
    ]
    assert [t.name for t in tools_for_orientation("horizontal")][:3] == [
        "focus_on_y_values_with_mask",
        "focus_on_y_values_with_draw",
        "focus_on_y_values_with_highlight",
    ]
    with pytest.raises(KeyError):
        tools_for_orientation("diagonal")


def test_tool_schemas_hide_the_task() -> None:
    for tool in CHART_TOOLS:
        schema = tool.schema
        properties = schema["function"]["parameters"]["properties"]
        assert "task" not in properties, tool.name
        assert schema["function"]["name"] == tool.name
    assert set(TOOLS["zoom"].schema["function"]["parameters"]["required"]) == {"box"}
