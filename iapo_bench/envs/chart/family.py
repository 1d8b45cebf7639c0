"""ToolUse-Chart-v0: bar, grouped, stacked, line and pie charts and tables, with questions.

A task's kind is ``KINDS[seed % len(KINDS)]``; everything else (theme, data table, number
format, question, style) is drawn from a generator seeded by the task's key. The answer is
computed from the data table (:func:`~iapo_bench.envs.chart.data.answer_question`), never
from pixels. The shown image is the scene at scale 1; the full-resolution source (scale
:data:`~iapo_bench.scene.SOURCE_SCALE`) is rendered only when something reads it.

Difficulty 0-3: more categories and series, closer values, and smaller value labels. From
2 up the value labels are fine print (4 pixels) that a zoom makes legible; at 3 long
labels are drawn rotated on vertical charts.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from iapo_bench.core import AnswerType, Split, Task
from iapo_bench.envs.chart.data import (
    KINDS,
    answer_question,
    draw_question,
    draw_table,
    question_text,
)
from iapo_bench.envs.chart.layout import draw_style, layout
from iapo_bench.envs.family import TaskFamily
from iapo_bench.scene import SOURCE_SCALE, Scene, rasterize
from iapo_bench.tools.base import Tool
from iapo_bench.tools.chart import CHART_TOOLS, tools_for_targets

__all__ = ["ChartFamily", "chart_scene"]

_NUMBER_ANSWERS = {"value", "difference", "sum", "mean", "count_above", "two_hop"}
_AGGREGATES = {"argmax", "argmin", "sum", "mean", "count_above", "two_hop"}


def chart_scene(data: dict[str, Any]) -> Scene:
    """The scene of a task's data table and style (benchmarks re-render it as the floor)."""
    return layout(data, data["style"])[0]


def _evidence(data: dict[str, Any]) -> tuple[str, ...]:
    """The categories the answer depends on."""
    kind, args = data["question_kind"], data["question_args"]
    if kind in _AGGREGATES:
        return tuple(data["categories"])
    if kind == "value":
        return (args["category"],)
    return tuple(args["categories"])


class ChartFamily(TaskFamily):
    """Charts and tables with lookup, comparison, aggregate, trend and two-hop questions.

    >>> task = ChartFamily().generate("train", 1, 3)
    >>> task.data["kind"], task.image.shape[2]
    ('grouped_hbar', 3)
    """

    name = "chart"
    version = "v0"
    revision = 3
    env_id = "ToolUse-Chart-v0"
    difficulties = (0, 1, 2, 3)
    default_difficulty = 1
    default_rubric = "relaxed_accuracy:1,exact_match:0"

    @property
    def tools(self) -> tuple[Tool, ...]:
        """Focus on x values, y values, rows or columns (mask, draw, highlight); crop; zoom."""
        return CHART_TOOLS

    def _generate(self, split: Split, difficulty: int, seed: int) -> Task:
        rng = np.random.default_rng([seed, difficulty, 0xC4A27])
        kind = KINDS[seed % len(KINDS)]
        data = draw_table(rng, kind, difficulty)
        data |= draw_question(rng, data)
        data["style"] = draw_style(rng, kind, difficulty)
        scene, elements, targets = layout(data, data["style"])
        question_kind = data["question_kind"]
        return Task(
            id=self.task_id(split, difficulty, seed),
            family=self.name,
            version=self.version,
            split=split,
            difficulty=difficulty,
            seed=seed,
            image=rasterize(scene),
            scene=scene,
            render_source=functools.partial(rasterize, scene, SOURCE_SCALE),
            question=question_text(data),
            answer=answer_question(data),
            answer_type=(
                AnswerType.NUMBER if question_kind in _NUMBER_ANSWERS else AnswerType.CHOICE
            ),
            question_kind=question_kind,
            evidence=_evidence(data),
            elements=elements,
            tool_names=tuple(t.name for t in tools_for_targets(targets)),
            data=data,
        )
