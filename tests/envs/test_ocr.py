"""ToolUse-OCR-v0: documents, fields, photographs, determinism, and what the tools reveal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import iapo_bench.envs  # noqa: F401  (registers the families)
from iapo_bench.core import AnswerType, Task
from iapo_bench.envs.family import rendering_environment
from iapo_bench.envs.ocr.content import draw_id
from iapo_bench.envs.ocr.documents import BUILDERS, KINDS, Style
from iapo_bench.envs.ocr.family import EFFECTS, VALUE_SIZE, OcrFamily
from iapo_bench.rewards.match import parse_number
from iapo_bench.scene import SOURCE_SCALE
from iapo_bench.tools.image import zoom
from iapo_bench.tools.ocr import get_engine

FAMILY = OcrFamily()


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return [FAMILY.generate("train", d, seed) for d in FAMILY.difficulties for seed in range(24)]


def _field(task: Task, kind: str):
    return next(e for e in task.elements if e.kind == kind and e.key == task.evidence[0])


def test_kinds_cycle_with_the_seed_and_answer_types_cover_the_design(tasks):
    assert [t.data["kind"] for t in tasks[:12]] == list(KINDS) * 2
    types = Counter(t.answer_type for t in tasks)
    assert set(types) == {AnswerType.TEXT, AnswerType.NUMBER, AnswerType.DATE, AnswerType.ID}


def test_every_task_asks_for_a_printed_field_whose_value_is_the_answer(tasks):
    for task in tasks:
        label, value = _field(task, "label"), _field(task, "value")
        assert label.text == task.data["label"] and value.text == task.data["value"]
        if task.answer_type is AnswerType.NUMBER:
            printed = re.search(r"\d[\d,]*(\.\d+)?", value.text).group(0)
            assert parse_number(printed) == parse_number(task.answer), task.id
        else:
            assert value.text == task.answer, task.id
        assert task.answer not in task.question, task.id
        assert task.tool_names == ("ocr", "zoom")


def test_values_are_fine_print_and_labels_are_legible_on_a_straight_scan():
    for seed in range(12):
        task = FAMILY.generate("train", 0, seed)
        value = _field(task, "value")
        assert value.box.height <= VALUE_SIZE + 1, task.id
        # Footnotes and receipt lines are fine print throughout; other labels are legible.
        if task.data["kind"] != "page" and not task.evidence[0].startswith("item:"):
            assert _field(task, "label").box.height >= 7, task.id


def test_source_is_three_times_the_shown_image_and_boxes_lie_inside(tasks):
    for task in tasks:
        height, width = task.image.shape[:2]
        assert task.source_image.shape == (height * SOURCE_SCALE, width * SOURCE_SCALE, 3)
        assert max(height, width) <= 600
        for element in task.elements:
            box = element.box
            assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height


def test_photographs_get_rougher_with_difficulty(tasks):
    for task in tasks:
        limit = EFFECTS[task.difficulty]["rotate"]
        assert abs(task.data["rotation"]) <= limit
        if task.difficulty == 0:
            assert task.data["rotation"] == 0.0
    assert max(abs(t.data["rotation"]) for t in tasks if t.difficulty == 3) > 1.5


def test_rotated_boxes_still_hold_their_ink():
    """After the photo is turned, each value's box still covers the value's dark pixels."""
    for seed in range(6):
        task = FAMILY.generate("train", 3, seed)
        value = _field(task, "value")
        b, k = value.box, SOURCE_SCALE
        ink = task.source_image[b.y0 * k : b.y1 * k, b.x0 * k : b.x1 * k].min(axis=2)
        assert (ink < int(np.median(ink)) - 60).mean() > 0.03, task.id  # strokes on paper


def test_receipt_arithmetic_holds():
    rng = np.random.default_rng(0)
    style = Style((255, 255, 255), (0, 0, 0), (150, 30, 40), "sans", "mono", 11.0, 4.0)
    for _ in range(20):
        fields = {f.key: f for f in BUILDERS["receipt"](rng, style).fields}
        items = sum(float(f.answer) for k, f in fields.items() if k.startswith("item:"))
        subtotal, tax, total = (float(fields[k].answer) for k in ("subtotal", "tax", "total"))
        assert subtotal == pytest.approx(items, abs=0.005)
        assert total == pytest.approx(subtotal + tax, abs=0.005)


def test_ids_avoid_look_alike_glyphs():
    rng = np.random.default_rng(3)
    ids = "".join(draw_id(rng, "AA9A-9999-A9") for _ in range(200))
    assert not set(ids) & set("01IL5S8BO")


def test_generation_is_deterministic_across_processes(tasks):
    chosen = [t for t in tasks if t.difficulty == 3][:6]
    code = (
        "import json, sys\n"
        "from iapo_bench.envs.family import load_task\n"
        "import iapo_bench.envs\n"
        "print(json.dumps([load_task(i).content_hash() for i in json.loads(sys.argv[1])]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps([t.id for t in chosen])],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(out.stdout) == [t.content_hash() for t in chosen]


def test_the_oracle_zoom_makes_the_field_legible():
    """RapidOCR misses the value as shown and reads it in a zoom of the field's row."""
    task = FAMILY.generate("train", 3, 1)  # an invoice, turned and compressed
    value, label = _field(task, "value"), _field(task, "label")
    box = value.box.union(label.box)
    engine = get_engine()
    shown = "".join(line.text for line in engine.read(task.image))
    assert task.data["value"] not in shown
    result = zoom({"box": [box.x0 - 6, box.y0 - 6, box.x1 + 6, box.y1 + 6], "factor": 3}, task=task)
    read = " ".join(line.text for line in engine.read(result.image))
    assert task.data["value"].replace(" ", "") in read.replace(" ", "")


def test_frozen_test_list_spreads_kinds_and_difficulties():
    frozen = FAMILY.frozen_test_list()
    assert frozen.env_id == "ToolUse-OCR-v0"
    assert frozen.task_ids == FAMILY.test_task_ids() and len(set(frozen.task_ids)) == 500
    cases = Counter(
        (KINDS[int(i.rsplit("/", 1)[1]) % len(KINDS)], i.split("/")[3]) for i in frozen.task_ids
    )
    assert len(cases) == len(KINDS) * len(FAMILY.difficulties)


@pytest.mark.slow
def test_frozen_test_list_matches_a_fresh_freeze():
    frozen = FAMILY.frozen_test_list()
    if frozen.environment != rendering_environment():
        pytest.skip(f"frozen with other rendering libraries: {frozen.environment}")
    assert FAMILY.freeze_test_list() == frozen
