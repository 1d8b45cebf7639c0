"""Tests of the chart family and its layouts (iapo_bench/envs/chart/family.py, layout.py).

Data tables and questions have their own tests (test_chart_data.py); here: what a generated
task holds, how its chart is laid out (elements, focus regions), its images, and splits.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from PIL import Image

import iapo_bench.envs  # noqa: F401  (registers the chart family)
from iapo_bench.core import AnswerType, Box, Element, Task
from iapo_bench.envs.chart import ChartFamily, chart_scene
from iapo_bench.envs.chart.data import KINDS, format_number
from iapo_bench.envs.family import (
    SPLIT_SEEDS,
    get_family,
    load_task,
    parse_task_id,
    rendering_environment,
)
from iapo_bench.scene import SOURCE_SCALE, Scene, rasterize

FAMILY = get_family("chart")
DIFFICULTIES = (0, 1, 2, 3)
SEEDS_PER_CASE = 6
MODES = ("mask", "draw", "highlight")
TOOL_TARGET_NAMES = {
    "x_value": "x_values",
    "y_value": "y_values",
    "row": "rows",
    "column": "columns",
}

VERTICAL = ("vbar", "grouped_vbar", "stacked_vbar", "line")
HORIZONTAL = ("hbar", "grouped_hbar", "stacked_hbar")
TARGETS = {
    **{kind: ("x_value",) for kind in VERTICAL},
    **{kind: ("y_value",) for kind in HORIZONTAL},
    "table": ("row", "column"),
    "pie": (),
}
"""The focus-region kinds each chart kind records (written out here, not read from layout)."""
REGION_KINDS = ("x_value", "y_value", "row", "column")
MARKS = ("bar", "value_label", "category_label", "marker", "cell", "row_label")
"""Element kinds that belong to one category and must lie inside its region."""


def _seed(split: str, kind: str, i: int) -> int:
    """The ``i``-th generator seed of ``split`` whose chart kind is ``kind``."""
    start = SPLIT_SEEDS[split].start
    return start + (KINDS.index(kind) - start) % len(KINDS) + len(KINDS) * i


def _keys() -> list[tuple[str, int, int]]:
    """(split, difficulty, seed) for every kind x difficulty: half train, half test."""
    return [
        (
            "train" if i % 2 == 0 else "test",
            difficulty,
            _seed("train" if i % 2 == 0 else "test", kind, i),
        )
        for kind in KINDS
        for difficulty in DIFFICULTIES
        for i in range(SEEDS_PER_CASE)
    ]


KEYS = _keys()


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return [FAMILY.generate(split, d, seed) for split, d, seed in KEYS]


def _one_per_case(tasks: list[Task]) -> list[Task]:
    """The first task of every kind x difficulty."""
    seen: dict[tuple[str, int], Task] = {}
    for task in tasks:
        seen.setdefault((task.data["kind"], task.difficulty), task)
    assert len(seen) == len(KINDS) * len(DIFFICULTIES)
    return list(seen.values())


def _overlap(a: Box, b: Box) -> bool:
    return max(a.x0, b.x0) < min(a.x1, b.x1) and max(a.y0, b.y0) < min(a.y1, b.y1)


def _of(task: Task, kind: str) -> list[Element]:
    return [e for e in task.elements if e.kind == kind]


# --- Task fields ------------------------------------------------------------------------------


def test_keys_cover_every_kind_difficulty_and_split(tasks: list[Task]) -> None:
    assert {(t.data["kind"], t.difficulty) for t in tasks} == {
        (k, d) for k in KINDS for d in DIFFICULTIES
    }
    assert {t.split for t in tasks} == {"train", "test"}


def test_kind_follows_the_seed(tasks: list[Task]) -> None:
    for (split, difficulty, seed), task in zip(KEYS, tasks, strict=True):
        assert task.data["kind"] == KINDS[seed % len(KINDS)], task.id
        assert task.id == f"chart/v0/{split}/d{difficulty}/{seed}"
        assert parse_task_id(task.id) == ("chart", "v0", split, difficulty, seed)
        assert (task.family, task.version, task.split) == ("chart", "v0", split)
        assert (task.difficulty, task.seed) == (difficulty, seed)
        assert task.question_kind == task.data["question_kind"]


def test_answer_type_and_evidence(tasks: list[Task]) -> None:
    numbers = {"value", "difference", "sum", "mean", "count_above", "two_hop"}
    whole_chart = {"argmax", "argmin", "sum", "mean", "count_above", "two_hop"}
    for task in tasks:
        kind, args = task.question_kind, task.data["question_args"]
        categories = tuple(task.data["categories"])
        if kind in numbers:
            assert task.answer_type is AnswerType.NUMBER, task.id
            float(task.answer)  # a plain number, no units or separators
            assert "," not in task.answer and "%" not in task.answer, task.id
        else:
            assert task.answer_type is AnswerType.CHOICE, task.id
            assert task.answer in (*categories, "increase", "decrease"), task.id
        if kind in whole_chart:
            assert task.evidence == categories, task.id
        elif kind == "value":
            assert task.evidence == (args["category"],), task.id
        else:
            assert task.evidence == tuple(args["categories"]), task.id
        assert set(task.evidence) <= set(categories), task.id


def test_generation_is_deterministic(tasks: list[Task]) -> None:
    for task in _one_per_case(tasks)[::4]:
        again = FAMILY.generate(task.split, task.difficulty, task.seed)
        assert again == task, task.id
        assert again.image is not task.image
        assert again.content_hash() == task.content_hash(), task.id
        assert again.scene.to_json() == task.scene.to_json(), task.id


def test_generation_is_deterministic_across_processes(tasks: list[Task]) -> None:
    chosen = [t for t in _one_per_case(tasks) if t.difficulty == 3][::3]
    ids = [t.id for t in chosen]
    code = (
        "import json, sys\n"
        "from iapo_bench.envs.family import load_task\n"
        "import iapo_bench.envs\n"
        "ids = json.loads(sys.argv[1])\n"
        "print(json.dumps([load_task(i).content_hash() for i in ids]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ids)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout) == [t.content_hash() for t in chosen]


def test_different_keys_give_different_tasks() -> None:
    a = FAMILY.generate("train", 1, 5)
    assert FAMILY.generate("train", 1, 14).content_hash() != a.content_hash()  # same kind
    assert FAMILY.generate("train", 2, 5).content_hash() != a.content_hash()
    b = FAMILY.generate("validation", 1, SPLIT_SEEDS["validation"].start + 5)
    assert b.id != a.id


def test_load_task_matches_generate(tasks: list[Task]) -> None:
    for task in tasks[::37]:
        assert load_task(task.id) == task


def test_chart_scene_rebuilds_the_scene_from_data(tasks: list[Task]) -> None:
    for task in tasks[::11]:
        assert chart_scene(dict(task.data)) == task.scene, task.id


# --- Images -----------------------------------------------------------------------------------


def test_image_is_the_scene_rasterised(tasks: list[Task]) -> None:
    for task in tasks:
        assert isinstance(task.scene, Scene), task.id
        assert task.image.dtype == np.uint8
        assert task.image.shape == (task.scene.height, task.scene.width, 3), task.id
        assert not task.image.flags.writeable
        np.testing.assert_array_equal(task.image, rasterize(task.scene), err_msg=task.id)
        # Not blank: a good share of the pixels are not background.
        inked = (task.image != np.array(task.scene.background, dtype=np.uint8)).any(axis=2)
        assert inked.mean() > 0.01, task.id


def test_source_image_is_rendered_lazily_at_source_scale(tasks: list[Task]) -> None:
    differences = []
    for task in _one_per_case(tasks):
        fresh = FAMILY.generate(task.split, task.difficulty, task.seed)
        assert fresh._source is None, task.id  # not rendered by generation
        source = fresh.source_image
        assert fresh._source is not None
        assert fresh.source_image is source  # rendered once
        height, width = fresh.image.shape[:2]
        assert source.shape == (height * SOURCE_SCALE, width * SOURCE_SCALE, 3), task.id
        assert source.dtype == np.uint8 and not source.flags.writeable
        reduced = np.asarray(Image.fromarray(source).reduce(SOURCE_SCALE)).astype(int)
        # Text hints differently at other sizes, so only close. Measured: at most ~3 for
        # charts, up to ~8.5 for tables (small images that are mostly text).
        difference = np.abs(reduced - fresh.image.astype(int)).mean()
        assert difference < 12, (task.id, difference)
        differences.append(difference)
    assert np.median(differences) < 3, differences


# --- Elements and focus regions ----------------------------------------------------------------


def test_focus_regions_follow_the_chart_kind(tasks: list[Task]) -> None:
    for task in tasks:
        kind = task.data["kind"]
        recorded = {e.kind for e in task.elements if e.kind in REGION_KINDS}
        assert recorded == set(TARGETS[kind]), (task.id, recorded)
        for target in TARGETS[kind]:
            keys = [e.key for e in _of(task, target)]
            expected = task.data["series"] if target == "column" else task.data["categories"]
            assert keys == list(expected), (task.id, target)


def test_regions_of_one_kind_never_overlap_and_lie_inside_the_image(tasks: list[Task]) -> None:
    for task in tasks:
        height, width = task.image.shape[:2]
        frame = Box(0, 0, width, height)
        for target in REGION_KINDS:
            regions = _of(task, target)
            for region in regions:
                assert region.box.width > 0 and region.box.height > 0, (task.id, region)
                assert frame.contains(region.box), (task.id, region)
            for a, b in itertools.combinations(regions, 2):
                assert not _overlap(a.box, b.box), (task.id, a, b)


def test_every_element_lies_inside_the_image(tasks: list[Task]) -> None:
    """Nothing is drawn (even partly) off the image: every recorded box fits in it."""
    outside = []
    for task in tasks:
        height, width = task.image.shape[:2]
        frame = Box(0, 0, width, height)
        outside += [(task.id, e) for e in task.elements if not frame.contains(e.box)]
    assert not outside, f"{len(outside)} elements stick out of the image, e.g. {outside[:4]}"


def test_marks_and_labels_lie_inside_their_category_region(tasks: list[Task]) -> None:
    stray = []
    cells = 0
    for task in tasks:
        kind = task.data["kind"]
        if kind == "pie":
            continue
        main = TARGETS[kind][0]
        regions = {e.key: e.box for e in _of(task, main)}
        columns = {e.key: e.box for e in _of(task, "column")}
        for element in task.elements:
            if element.kind not in MARKS:
                continue
            assert element.key in regions, (task.id, element)
            if not regions[element.key].contains(element.box):
                stray.append((task.id, element, regions[element.key]))
            if element.kind == "cell":  # a cell also lies in its column
                cells += 1
                assert element.group in columns, (task.id, element)
                if not columns[element.group].contains(element.box):
                    stray.append((task.id, element, columns[element.group]))
        for header in _of(task, "header"):
            if header.group:  # a column's header sits in its column
                assert columns[header.group].contains(header.box), (task.id, header)
    assert cells > 100
    assert not stray, f"{len(stray)} marks or labels outside their region, e.g. {stray[:3]}"


def test_every_value_is_labelled_with_its_formatted_number(tasks: list[Task]) -> None:
    for task in tasks:
        data = task.data
        kind = data["kind"]
        label_kind = "cell" if kind == "table" else "value_label"
        labels = Counter()
        for element in _of(task, label_kind):
            series = element.group if element.group else data["series"][0]
            assert kind == "pie" or element.group, (task.id, element)
            row = data["raw_values"][data["series"].index(series)]
            raw = row[data["categories"].index(element.key)]
            assert element.text == format_number(raw, data), (task.id, element)
            assert element.box.width > 0 and element.box.height > 0, (task.id, element)
            labels[(element.key, series)] += 1
        expected = {(c, s) for c in data["categories"] for s in data["series"]}
        assert set(labels) == expected and set(labels.values()) == {1}, task.id


def test_category_and_row_labels(tasks: list[Task]) -> None:
    for task in tasks:
        kind = task.data["kind"]
        label_kind = {"table": "row_label", "pie": "legend"}.get(kind, "category_label")
        labels = _of(task, label_kind)
        assert [e.key for e in labels] == list(task.data["categories"]), task.id
        assert all(e.text == e.key for e in labels), task.id
        assert len(_of(task, "title")) == 1, task.id
        if kind in VERTICAL or kind in HORIZONTAL:
            assert _of(task, "tick_label"), task.id
        if kind == "table":
            assert [e.group for e in _of(task, "header") if e.group] == list(task.data["series"])


def test_tool_names_match_the_targets(tasks: list[Task]) -> None:
    for task in tasks:
        targets = TARGETS[task.data["kind"]]
        expected = {
            f"focus_on_{TOOL_TARGET_NAMES[t]}_with_{mode}" for t in targets for mode in MODES
        }
        assert set(task.tool_names) == expected | {"crop", "zoom"}, task.id
        assert len(task.tool_names) == len(set(task.tool_names)), task.id
        assert task.tool_names[-2:] == ("crop", "zoom"), task.id
        assert tuple(t.name for t in FAMILY.tools_for(task)) == task.tool_names, task.id
        if task.data["kind"] == "pie":
            assert task.tool_names == ("crop", "zoom")


# --- Marks --------------------------------------------------------------------------------


def _bars(task: Task) -> dict[tuple[str, str], Box]:
    bars = {(e.key, e.group): e.box for e in _of(task, "bar")}
    assert len(bars) == len(_of(task, "bar")), task.id
    return bars


def test_bar_lengths_are_ordered_like_the_values(tasks: list[Task]) -> None:
    checked = 0
    for task in tasks:
        kind = task.data["kind"]
        if kind not in ("vbar", "hbar", "grouped_vbar", "grouped_hbar"):
            continue
        vertical = kind in VERTICAL
        bars = _bars(task)
        categories = task.data["categories"]
        for name, row in zip(task.data["series"], task.data["raw_values"], strict=True):
            length = {
                c: (bars[c, name].height if vertical else bars[c, name].width) for c in categories
            }
            raw = dict(zip(categories, row, strict=True))
            for a, b in itertools.combinations(categories, 2):
                if raw[a] == raw[b]:
                    assert length[a] == length[b], (task.id, a, b)
                else:
                    assert (length[a] > length[b]) == (raw[a] > raw[b]), (task.id, name, a, b)
                checked += 1
        # All bars stand on the same baseline.
        base = {b.y1 for b in bars.values()} if vertical else {b.x0 for b in bars.values()}
        assert len(base) == 1, task.id
    assert checked > 500


def test_bars_are_flat_fills_in_the_series_colour(tasks: list[Task]) -> None:
    for task in tasks:
        if task.data["kind"] not in ("vbar", "hbar", "grouped_vbar", "grouped_hbar"):
            continue
        bars = _bars(task)
        colours = {}
        for (category, series), bar in bars.items():
            # Where text or another bar overlaps this one is the overlap test's business.
            covered = np.zeros(task.image.shape[:2], dtype=bool)
            for e in task.elements:
                if e.text or (e.kind == "bar" and (e.key, e.group) != (category, series)):
                    covered[e.box.y0 : e.box.y1, e.box.x0 : e.box.x1] = True
            window = (slice(bar.y0, bar.y1), slice(bar.x0, bar.x1))
            inner = task.image[window][~covered[window]]
            assert inner.size > 0, task.id
            assert (inner == inner[0]).all(), (task.id, bar)
            assert not np.array_equal(inner[0], [255, 255, 255]), task.id
            colours.setdefault(series, set()).add(tuple(inner[0]))
        assert all(len(c) == 1 for c in colours.values()), task.id  # one colour per series
        assert len({next(iter(c)) for c in colours.values()}) == len(colours), task.id


def test_stacked_segments_are_contiguous(tasks: list[Task]) -> None:
    stacks = 0
    for task in tasks:
        kind = task.data["kind"]
        if not kind.startswith("stacked"):
            continue
        vertical = kind == "stacked_vbar"
        bars = _bars(task)
        baselines = set()
        for category in task.data["categories"]:
            segments = [bars[category, name] for name in task.data["series"]]
            first = segments[0]
            baselines.add(first.y1 if vertical else first.x0)
            for below, above in itertools.pairwise(segments):
                if vertical:
                    assert (above.x0, above.x1) == (below.x0, below.x1), (task.id, category)
                    assert above.y1 == below.y0, (task.id, category)
                else:
                    assert (above.y0, above.y1) == (below.y0, below.y1), (task.id, category)
                    assert above.x0 == below.x1, (task.id, category)
            stacks += 1
        assert len(baselines) == 1, task.id
        totals = [sum(col) for col in zip(*task.data["raw_values"], strict=True)]
        extent = [
            (
                bars[c, task.data["series"][-1]].y0
                if vertical
                else -bars[c, task.data["series"][-1]].x1
            )
            for c in task.data["categories"]
        ]
        for a, b in itertools.combinations(range(len(totals)), 2):
            if totals[a] > totals[b]:
                assert extent[a] <= extent[b], (task.id, a, b)
    assert stacks > 100


def test_stacked_value_labels_sit_inside_their_segment(tasks: list[Task]) -> None:
    for task in tasks:
        if task.data["kind"].startswith("stacked"):
            bars = _bars(task)
            for label in _of(task, "value_label"):
                assert bars[label.key, label.group].contains(label.box), (task.id, label)


def test_marks_overlap_no_other_mark(tasks: list[Task]) -> None:
    """Bars never overlap, and no other label or bar covers a value label: a covered label
    cannot be read, even in a zoom."""
    clashes: Counter[tuple[str, int, str]] = Counter()
    examples = {}
    for task in tasks:
        labels = [e for e in task.elements if e.kind in ("value_label", "cell")]
        bars = _of(task, "bar")
        for a, b in itertools.combinations(bars, 2):
            if _overlap(a.box, b.box):
                clashes[task.data["kind"], task.difficulty, "bar-bar"] += 1
                examples.setdefault((task.data["kind"], "bar-bar"), (task.id, a, b))
        for a, b in itertools.combinations(labels, 2):
            if _overlap(a.box, b.box):
                clashes[task.data["kind"], task.difficulty, "label-label"] += 1
                examples.setdefault((task.data["kind"], "label-label"), (task.id, a, b))
        for a in labels:
            for b in bars:
                if (a.key, a.group) != (b.key, b.group) and _overlap(a.box, b.box):
                    clashes[task.data["kind"], task.difficulty, "label-bar"] += 1
                    examples.setdefault((task.data["kind"], "label-bar"), (task.id, a, b))
    assert not clashes, f"overlaps by (kind, difficulty, with): {dict(clashes)}; e.g. {examples}"


def test_line_markers_are_ordered_like_the_values(tasks: list[Task]) -> None:
    lines = [t for t in tasks if t.data["kind"] == "line"]
    assert lines
    for task in lines:
        markers = {(e.key, e.group): e.box for e in _of(task, "marker")}
        categories = task.data["categories"]
        assert len(markers) == len(categories) * len(task.data["series"]), task.id
        for name, row in zip(task.data["series"], task.data["raw_values"], strict=True):
            top = {c: markers[c, name].y0 for c in categories}
            raw = dict(zip(categories, row, strict=True))
            for a, b in itertools.combinations(categories, 2):
                if raw[a] > raw[b]:
                    assert top[a] <= top[b], (task.id, name, a, b)
            xs = [markers[c, name].x0 for c in categories]
            assert xs == sorted(xs) and len(set(xs)) == len(xs), task.id  # left to right


# --- Difficulty --------------------------------------------------------------------------------


def _value_heights(tasks: list[Task], difficulty: int) -> list[int]:
    # Glyph size: the shorter side (labels standing on end are taller than wide).
    return [
        min(e.box.width, e.box.height)
        for t in tasks
        if t.difficulty == difficulty
        for e in t.elements
        if e.kind in ("value_label", "cell")
    ]


def test_value_labels_are_fine_print_from_difficulty_two(tasks: list[Task]) -> None:
    # Measured: difficulty 0 labels are 9-12 px tall (7 where grouped bars shrink them to
    # fit), difficulties 2 and 3 are 4-6 px.
    easy = _value_heights(tasks, 0)
    assert min(easy) >= 7 and np.median(easy) >= 9, (min(easy), np.median(easy))
    for difficulty in (2, 3):
        heights = _value_heights(tasks, difficulty)
        assert heights and max(heights) <= 6, (difficulty, max(heights))
        assert max(heights) < min(easy)
    means = [np.mean(_value_heights(tasks, d)) for d in DIFFICULTIES]
    assert means[0] > means[1] > means[2] >= means[3], means


def test_long_labels_are_rotated_on_vertical_bars_at_difficulty_three(tasks: list[Task]) -> None:
    for task in tasks:
        if task.data["kind"] not in ("vbar", "grouped_vbar", "stacked_vbar"):
            continue
        labels = _of(task, "category_label")
        rotated = [e.box.height > e.box.width for e in labels]
        ops = [op for op in task.scene.ops if getattr(op, "text", None) in task.data["categories"]]
        if task.difficulty == 3:
            assert all(rotated), task.id
            assert all(op.vertical for op in ops), task.id
        else:
            assert not any(op.vertical for op in ops), task.id


def test_more_categories_at_higher_difficulty(tasks: list[Task]) -> None:
    means = [
        np.mean([len(t.data["categories"]) for t in tasks if t.difficulty == d])
        for d in DIFFICULTIES
    ]
    assert means == sorted(means) and means[0] < means[-1], means


# --- Splits and the frozen test list ------------------------------------------------------------


@pytest.mark.parametrize(
    "split, seed",
    [
        ("train", SPLIT_SEEDS["train"].stop),
        ("train", -1),
        ("validation", SPLIT_SEEDS["validation"].start - 1),
        ("validation", 0),
        ("test", 0),
        ("test", SPLIT_SEEDS["test"].stop),
    ],
)
def test_generate_rejects_seeds_outside_the_split(split: str, seed: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        FAMILY.generate(split, 1, seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("difficulty", [-1, 4, 10])
def test_generate_rejects_unknown_difficulties(difficulty: int) -> None:
    with pytest.raises(ValueError, match="difficulty"):
        FAMILY.generate("train", difficulty, 0)


def test_family_attributes() -> None:
    assert isinstance(FAMILY, ChartFamily)
    assert FAMILY.difficulties == DIFFICULTIES
    assert FAMILY.env_id == "ToolUse-Chart-v0"
    assert FAMILY.default_difficulty in DIFFICULTIES
    assert {t.name for t in FAMILY.tools} == {
        *(f"focus_on_{n}_with_{m}" for n in TOOL_TARGET_NAMES.values() for m in MODES),
        "crop",
        "zoom",
    }


def test_frozen_test_list_ids() -> None:
    frozen = FAMILY.frozen_test_list()
    assert frozen.env_id == "ToolUse-Chart-v0"
    assert len(frozen.task_ids) == 500
    assert len(set(frozen.task_ids)) == 500
    assert frozen.task_ids == FAMILY.test_task_ids()
    cases = set()
    for task_id in frozen.task_ids:
        family, version, split, difficulty, seed = parse_task_id(task_id)
        assert (family, version, split) == ("chart", "v0", "test")
        cases.add((KINDS[seed % len(KINDS)], difficulty))
    assert cases == {(k, d) for k in KINDS for d in DIFFICULTIES}
    counts = Counter(parse_task_id(i)[3] for i in frozen.task_ids)
    assert max(counts.values()) - min(counts.values()) <= 1
    assert set(frozen.environment) == set(rendering_environment())


@pytest.mark.slow
def test_frozen_test_list_matches_a_fresh_freeze() -> None:
    frozen = FAMILY.frozen_test_list()
    current = rendering_environment()
    if frozen.environment != current:
        differing = {
            key: (frozen.environment.get(key), current.get(key))
            for key in sorted(set(frozen.environment) | set(current))
            if frozen.environment.get(key) != current.get(key)
        }
        pytest.skip(f"frozen with other rendering libraries (frozen, now): {differing}")
    fresh = FAMILY.freeze_test_list()
    assert fresh.task_ids == frozen.task_ids
    assert fresh.version_hash == frozen.version_hash == FAMILY.version_hash
    assert fresh.content_hash == frozen.content_hash
    assert fresh == frozen
