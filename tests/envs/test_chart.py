"""Tests of the chart task family (iapo_bench/envs/chart/): data, answers, layout, splits."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from PIL import Image

import iapo_bench.envs  # noqa: F401  (registers the chart family)
from iapo_bench.core import AnswerType, Box, Task
from iapo_bench.envs.chart import QUESTION_KINDS, answer_question
from iapo_bench.envs.chart.render import SCALE, SHOWN_SIZE
from iapo_bench.envs.family import (
    SPLIT_SEEDS,
    get_family,
    load_task,
    parse_task_id,
    rendering_environment,
)

FAMILY = get_family("chart")
SEEDS_PER_DIFFICULTY = 60
X_TOOLS = {f"focus_on_x_values_with_{m}" for m in ("mask", "draw", "highlight")}
Y_TOOLS = {f"focus_on_y_values_with_{m}" for m in ("mask", "draw", "highlight")}


def _keys() -> list[tuple[str, int, int]]:
    """(split, difficulty, generator seed): half train, half test, per difficulty."""
    keys = []
    for difficulty in FAMILY.difficulties:
        for i in range(SEEDS_PER_DIFFICULTY):
            split = "train" if i % 2 == 0 else "test"
            keys.append((split, difficulty, SPLIT_SEEDS[split].start + 17 * i + difficulty))
    return keys


KEYS = _keys()


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return [FAMILY.generate(split, d, seed) for split, d, seed in KEYS]


# --- An independent recomputation of the reference answer --------------------------------


def _formatted(raw: int, decimals: int) -> str:
    """``raw * 10**-decimals`` written with exactly ``decimals`` decimals, via Decimal."""
    value = Decimal(raw).scaleb(-decimals)
    text = format(value, "f")
    if decimals:
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.ljust(decimals, '0')}"
    return text


def _expected_answer(data: dict[str, Any]) -> str:
    categories: list[str] = list(data["categories"])
    raw: list[int] = list(data["raw_values"])
    decimals: int = data["decimals"]
    kind: str = data["question_kind"]
    args: list[str] = list(data["question_args"])
    value_of = {c: v for c, v in zip(categories, raw, strict=True)}
    if kind == "value":
        return _formatted(value_of[args[0]], decimals)
    if kind == "difference":
        a, b = (value_of[x] for x in args)
        return _formatted(a - b if a > b else b - a, decimals)
    if kind == "compare":
        a, b = args
        return a if value_of[a] > value_of[b] else b
    order = sorted(range(len(raw)), key=lambda i: raw[i])
    if kind == "argmax":
        return categories[order[-1]]
    if kind == "argmin":
        return categories[order[0]]
    raise AssertionError(f"unexpected question kind {kind!r}")


def test_formatted_helper() -> None:
    assert _formatted(1234, 1) == "123.4"
    assert _formatted(5, 1) == "0.5"
    assert _formatted(40, 1) == "4.0"
    assert _formatted(40, 0) == "40"


def test_keys_cover_both_splits_orientations_and_every_question_kind(tasks: list[Task]) -> None:
    assert {t.split for t in tasks} == {"train", "test"}
    assert {t.data["orientation"] for t in tasks} == {"vertical", "horizontal"}
    assert {t.question_kind for t in tasks} == set(QUESTION_KINDS)
    assert {t.data["decimals"] for t in tasks} == {0, 1}


def test_reference_answer_recomputed_from_data(tasks: list[Task]) -> None:
    for task in tasks:
        expected = _expected_answer(dict(task.data))
        assert task.answer == expected, task.id
        assert answer_question(dict(task.data)) == expected, task.id


def test_value_answers_match_the_drawn_value_label(tasks: list[Task]) -> None:
    for task in (t for t in tasks if t.question_kind == "value"):
        (category,) = task.data["question_args"]
        (label,) = [e for e in task.elements if e.kind == "value_label" and e.key == category]
        assert label.text == task.answer, task.id


def test_task_key_fields(tasks: list[Task]) -> None:
    for (split, difficulty, seed), task in zip(KEYS, tasks, strict=True):
        assert task.id == f"chart/v0/{split}/d{difficulty}/{seed}"
        assert parse_task_id(task.id) == ("chart", "v0", split, difficulty, seed)
        assert (task.family, task.version, task.split) == ("chart", "v0", split)
        assert (task.difficulty, task.seed) == (difficulty, seed)
        assert task.question_kind == task.data["question_kind"]


def test_question_mentions_its_arguments(tasks: list[Task]) -> None:
    for task in tasks:
        kind, args = task.data["question_kind"], task.data["question_args"]
        expected_args = {"value": 1, "compare": 2, "difference": 2}.get(kind, 0)
        assert len(args) == expected_args, task.id
        assert len(set(args)) == len(args), task.id
        for arg in args:
            assert arg in task.data["categories"], task.id
            assert arg in task.question, (task.id, task.question)
        assert task.question.endswith("?")
        assert task.data["metric"].lower() in task.question


def test_answer_type_by_question_kind(tasks: list[Task]) -> None:
    for task in tasks:
        if task.question_kind in ("value", "difference"):
            assert task.answer_type is AnswerType.NUMBER, task.id
            float(task.answer)  # a plain number
        else:
            assert task.answer_type is AnswerType.CHOICE, task.id
            assert task.answer in task.data["categories"], task.id


def test_evidence_names_the_categories_the_answer_depends_on(tasks: list[Task]) -> None:
    for task in tasks:
        if task.question_kind in ("argmax", "argmin"):
            assert task.evidence == (task.answer,), task.id
        else:
            assert task.evidence == tuple(task.data["question_args"]), task.id


def test_values_and_categories_are_distinct(tasks: list[Task]) -> None:
    for task in tasks:
        raw, categories = task.data["raw_values"], task.data["categories"]
        assert len(raw) == len(categories), task.id
        assert len(set(raw)) == len(raw), task.id
        assert len(set(categories)) == len(categories), task.id
        assert all(isinstance(v, int) and v > 0 for v in raw), task.id


@pytest.mark.parametrize("difficulty, bars", [(0, (3, 5)), (1, (5, 8)), (2, (7, 10))])
def test_number_of_bars_grows_with_difficulty(
    tasks: list[Task], difficulty: int, bars: tuple[int, int]
) -> None:
    counts = {len(t.data["categories"]) for t in tasks if t.difficulty == difficulty}
    assert counts <= set(range(bars[0], bars[1] + 1))
    assert len(counts) >= 2


def _overlap(a: Box, b: Box) -> bool:
    return max(a.x0, b.x0) < min(a.x1, b.x1) and max(a.y0, b.y0) < min(a.y1, b.y1)


def test_elements_per_category(tasks: list[Task]) -> None:
    for task in tasks:
        axis = "x" if task.data["orientation"] == "vertical" else "y"
        other = "y" if axis == "x" else "x"
        assert not [e for e in task.elements if e.kind == f"{other}_value"], task.id
        decimals = task.data["decimals"]
        for category, raw in zip(task.data["categories"], task.data["raw_values"], strict=True):
            mine = [e for e in task.elements if e.key == category]
            by_kind = {k: [e for e in mine if e.kind == k] for k in {e.kind for e in mine}}
            assert sorted(by_kind) == sorted(
                ["bar", "category_label", "value_label", f"{axis}_value"]
            ), (task.id, category)
            assert all(len(v) == 1 for v in by_kind.values()), (task.id, category)
            assert by_kind["category_label"][0].text == category
            assert by_kind["value_label"][0].text == _formatted(raw, decimals)
            region = by_kind[f"{axis}_value"][0].box
            for kind in ("bar", "category_label", "value_label"):
                box = by_kind[kind][0].box
                assert box.width > 0 and box.height > 0, (task.id, category, kind)
                assert region.contains(box), (task.id, category, kind, box, region)


def test_regions_of_different_categories_do_not_overlap(tasks: list[Task]) -> None:
    for task in tasks:
        regions = [e for e in task.elements if e.kind in ("x_value", "y_value")]
        assert len(regions) == len(task.data["categories"])
        for a, b in itertools.combinations(regions, 2):
            assert not _overlap(a.box, b.box), (task.id, a.key, b.key)


def test_all_boxes_lie_inside_the_image(tasks: list[Task]) -> None:
    width, height = SHOWN_SIZE
    frame = Box(x0=0, y0=0, x1=width, y1=height)
    for task in tasks:
        assert task.image.shape == (height, width, 3)
        kinds = {e.kind for e in task.elements}
        assert {"title", "tick_label"} <= kinds, task.id
        for element in task.elements:
            assert frame.contains(element.box), (task.id, element)


def test_bar_lengths_are_ordered_like_the_values(tasks: list[Task]) -> None:
    for task in tasks:
        vertical = task.data["orientation"] == "vertical"
        bars = {e.key: e.box for e in task.elements if e.kind == "bar"}
        length = {k: (b.height if vertical else b.width) for k, b in bars.items()}
        raw = dict(zip(task.data["categories"], task.data["raw_values"], strict=True))
        for a, b in itertools.combinations(raw, 2):
            assert (length[a] > length[b]) == (raw[a] > raw[b]), (task.id, a, b)
            assert length[a] != length[b], (task.id, a, b)
        # All bars share the baseline.
        if vertical:
            assert len({b.y1 for b in bars.values()}) == 1, task.id
        else:
            assert len({b.x0 for b in bars.values()}) == 1, task.id


def test_bars_are_drawn_in_the_bar_colour(tasks: list[Task]) -> None:
    for task in tasks[::7]:
        for bar in (e.box for e in task.elements if e.kind == "bar"):
            inner = task.image[bar.y0 + 1 : bar.y1 - 1, bar.x0 + 1 : bar.x1 - 1].reshape(-1, 3)
            # A flat fill away from the anti-aliased edge, not the background.
            assert inner.size > 0, task.id
            assert (inner == inner[0]).all(), task.id
            assert not np.array_equal(inner[0], [255, 255, 255]), task.id


def test_tool_names_follow_the_orientation(tasks: list[Task]) -> None:
    for task in tasks:
        names = set(task.tool_names)
        assert {"crop", "zoom"} <= names, task.id
        if task.data["orientation"] == "vertical":
            assert names >= X_TOOLS and not names & Y_TOOLS, task.id
        else:
            assert names >= Y_TOOLS and not names & X_TOOLS, task.id
        assert names == X_TOOLS | {"crop", "zoom"} or names == Y_TOOLS | {"crop", "zoom"}
        assert tuple(t.name for t in FAMILY.tools_for(task)) == task.tool_names


def test_shown_image_is_the_source_reduced_by_scale(tasks: list[Task]) -> None:
    for task in tasks[::3]:
        assert task.source_image.shape == (
            task.image.shape[0] * SCALE,
            task.image.shape[1] * SCALE,
            3,
        )
        reduced = np.asarray(Image.fromarray(task.source_image).reduce(SCALE))
        np.testing.assert_array_equal(task.image, reduced, err_msg=task.id)


def test_task_images_are_read_only(tasks: list[Task]) -> None:
    task = tasks[0]
    assert not task.image.flags.writeable
    assert not task.source_image.flags.writeable
    with pytest.raises(ValueError):
        task.image[0, 0] = 0


def test_generation_is_deterministic() -> None:
    for split, difficulty, seed in KEYS[::20]:
        a = FAMILY.generate(split, difficulty, seed)
        b = FAMILY.generate(split, difficulty, seed)
        assert a == b
        assert a.content_hash() == b.content_hash()
        assert a.image is not b.image


def test_different_keys_give_different_tasks() -> None:
    a = FAMILY.generate("train", 1, 5)
    assert FAMILY.generate("train", 1, 6).content_hash() != a.content_hash()
    assert FAMILY.generate("train", 2, 5).content_hash() != a.content_hash()
    # Same offset in another split: a different task (and a different id).
    b = FAMILY.generate("validation", 1, SPLIT_SEEDS["validation"].start + 5)
    assert b.id != a.id


def test_load_task_matches_generate() -> None:
    for split, difficulty, seed in KEYS[::30]:
        task = load_task(FAMILY.task_id(split, difficulty, seed))
        assert task == FAMILY.generate(split, difficulty, seed)


# --- Splits and the frozen test list -----------------------------------------------------


def test_split_seed_ranges_are_disjoint() -> None:
    assert set(SPLIT_SEEDS) == {"train", "validation", "test"}
    for (a, ra), (b, rb) in itertools.combinations(SPLIT_SEEDS.items(), 2):
        assert ra.step == rb.step == 1
        assert max(ra.start, rb.start) >= min(ra.stop, rb.stop), (a, b)
        assert len(ra) > 0 and len(rb) > 0


@pytest.mark.parametrize(
    "split, seed",
    [
        ("train", SPLIT_SEEDS["train"].stop),
        ("train", -1),
        ("train", SPLIT_SEEDS["test"].start),
        ("validation", SPLIT_SEEDS["validation"].start - 1),
        ("validation", SPLIT_SEEDS["validation"].stop),
        ("validation", 0),
        ("test", 0),
        ("test", SPLIT_SEEDS["test"].stop),
    ],
)
def test_generate_rejects_seeds_outside_the_split(split: str, seed: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        FAMILY.generate(split, 1, seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("difficulty", [-1, 3, 10])
def test_generate_rejects_unknown_difficulties(difficulty: int) -> None:
    with pytest.raises(ValueError, match="difficulty"):
        FAMILY.generate("train", difficulty, 0)


def test_split_range_edges_are_accepted() -> None:
    for split, seeds in SPLIT_SEEDS.items():
        assert FAMILY.generate(split, 0, seeds.start).seed == seeds.start  # type: ignore[arg-type]
        assert FAMILY.generate(split, 0, seeds.stop - 1).seed == seeds.stop - 1  # type: ignore[arg-type]


def test_frozen_test_list_ids() -> None:
    frozen = FAMILY.frozen_test_list()
    assert frozen.env_id == "ToolUse-Chart-v0"
    assert len(frozen.task_ids) == 500
    assert len(set(frozen.task_ids)) == 500
    assert frozen.task_ids == FAMILY.test_task_ids()
    for task_id in frozen.task_ids:
        family, version, split, difficulty, _ = parse_task_id(task_id)
        assert (family, version, split) == ("chart", "v0", "test")
        assert difficulty in FAMILY.difficulties
    counts = {d: sum(f"/d{d}/" in i for i in frozen.task_ids) for d in FAMILY.difficulties}
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
    assert fresh.version_hash == frozen.version_hash
    assert fresh.content_hash == frozen.content_hash
    assert fresh == frozen
