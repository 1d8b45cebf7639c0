"""ToolUse-Chart-v0: seeded bar charts with questions about their values.

Each task draws a data table (categories and values), renders it as a vertical or
horizontal bar chart with value labels, and asks one question of a kind in
:data:`QUESTION_KINDS`. The answer is computed from the data table, never from pixels.

Difficulty (0-2) sets the number of bars and the size of the value labels: at 0 the labels
are plainly legible; at 2 they are fine print (6 px) in the shown image, legible in a zoom of
the full-resolution source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iapo_bench.core import AnswerType, Split, Task
from iapo_bench.envs.chart.render import BarChartSpec, render_bar_chart
from iapo_bench.envs.family import TaskFamily
from iapo_bench.tools.base import Tool
from iapo_bench.tools.chart import CHART_TOOLS, tools_for_orientation

__all__ = ["QUESTION_KINDS", "ChartFamily", "answer_question", "chart_spec", "format_value"]

QUESTION_KINDS = ("value", "compare", "argmax", "argmin", "difference")
"""The question templates of v0."""

_THEMES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "country",
        "Exports",
        (
            "Peru",
            "Chile",
            "Kenya",
            "Norway",
            "Japan",
            "Brazil",
            "Egypt",
            "Canada",
            "India",
            "Spain",
            "Ghana",
            "Poland",
            "Mexico",
            "Vietnam",
        ),
    ),
    (
        "fruit",
        "Harvest",
        (
            "Apple",
            "Mango",
            "Cherry",
            "Banana",
            "Grape",
            "Lemon",
            "Papaya",
            "Plum",
            "Kiwi",
            "Guava",
            "Melon",
            "Peach",
            "Lime",
            "Fig",
        ),
    ),
    (
        "city",
        "Visitors",
        (
            "Lyon",
            "Osaka",
            "Quito",
            "Dakar",
            "Perth",
            "Turin",
            "Hanoi",
            "Tunis",
            "Porto",
            "Cork",
            "Kyiv",
            "Lagos",
            "Leeds",
            "Split",
        ),
    ),
    (
        "product",
        "Sales",
        (
            "Widget",
            "Gadget",
            "Sprocket",
            "Gizmo",
            "Doohickey",
            "Bracket",
            "Flange",
            "Gasket",
            "Hinge",
            "Nozzle",
            "Pulley",
            "Rivet",
            "Valve",
        ),
    ),
    (
        "team",
        "Points",
        (
            "Falcons",
            "Otters",
            "Comets",
            "Badgers",
            "Lynx",
            "Ravens",
            "Herons",
            "Vipers",
            "Wolves",
            "Bison",
            "Pumas",
            "Sharks",
            "Eagles",
            "Moose",
        ),
    ),
    (
        "region",
        "Revenue",
        (
            "North",
            "South",
            "East",
            "West",
            "Central",
            "Coastal",
            "Alpine",
            "Delta",
            "Prairie",
            "Highland",
            "Lowland",
            "Islands",
            "Metro",
        ),
    ),
)
_PALETTE = (
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (23, 190, 207),
    (140, 86, 75),
    (127, 127, 127),
)
_BARS = {0: (3, 5), 1: (5, 8), 2: (7, 10)}
_VALUE_FONT = {0: 13, 1: 9, 2: 6}


def format_value(raw: int, decimals: int) -> str:
    """A value stored as an integer count of ``10**-decimals`` units, as drawn and answered.

    >>> format_value(1234, 1)
    '123.4'
    """
    return f"{raw / 10**decimals:.{decimals}f}"


def answer_question(data: dict[str, Any]) -> str:
    """The reference answer, recomputed from a task's data table (tests use this too)."""
    raw = dict(zip(data["categories"], data["raw_values"], strict=True))
    kind, args = data["question_kind"], data["question_args"]
    if kind == "value":
        return format_value(raw[args[0]], data["decimals"])
    if kind == "compare":
        return max(args, key=raw.__getitem__)
    if kind == "argmax":
        return max(raw, key=raw.__getitem__)
    if kind == "argmin":
        return min(raw, key=raw.__getitem__)
    if kind == "difference":
        return format_value(abs(raw[args[0]] - raw[args[1]]), data["decimals"])
    raise ValueError(f"unknown question kind {kind!r}")


def _question_text(kind: str, args: list[str], noun: str, metric: str) -> str:
    metric = metric.lower()
    if kind == "value":
        return f"What is the {metric} value shown for {args[0]}?"
    if kind == "compare":
        return f"Which {noun} has more {metric}: {args[0]} or {args[1]}?"
    if kind == "argmax":
        return f"Which {noun} has the most {metric}?"
    if kind == "argmin":
        return f"Which {noun} has the least {metric}?"
    return f"What is the difference in {metric} between {args[0]} and {args[1]}?"


def _draw_values(rng: np.random.Generator, n: int, decimals: int) -> list[int]:
    """Distinct values whose sorted neighbours differ by at least 4% of the axis top."""
    scale = 10**decimals
    top = int(rng.choice([20, 50, 100, 200, 500, 1000])) * scale
    low = top / 20
    min_gap = 0.045 * top
    # Spread the slack above the minimum gaps at random: no rejection loop needed.
    weights = rng.random(n + 1)
    extras = (top - low - (n - 1) * min_gap) * weights / weights.sum()
    ordered = low + extras[0] + np.concatenate([[0.0], np.cumsum(min_gap + extras[1:n])])
    raw = [round(v) for v in ordered]
    return [raw[i] for i in rng.permutation(n)]


def chart_spec(data: dict[str, Any]) -> BarChartSpec:
    """The drawing spec of a task's data table (benchmarks re-render it as the Pillow floor)."""
    decimals = data["decimals"]
    return BarChartSpec(
        orientation=data["orientation"],
        title=data["title"],
        categories=tuple(data["categories"]),
        labels=tuple(format_value(v, decimals) for v in data["raw_values"]),
        values=tuple(v / 10**decimals for v in data["raw_values"]),
        bar_color=tuple(data["bar_color"]),
        value_font_size=data["value_font_size"],
    )


class ChartFamily(TaskFamily):
    """Bar charts (vertical and horizontal) with value, compare, extreme and difference questions.

    >>> task = ChartFamily().generate("train", 1, 3)
    >>> task.image.shape, task.answer_type.value in ("number", "choice")
    ((420, 560, 3), True)
    """

    name = "chart"
    version = "v0"
    revision = 2
    env_id = "ToolUse-Chart-v0"
    difficulties = (0, 1, 2)
    default_difficulty = 1
    default_rubric = "relaxed_accuracy:1,exact_match:0"

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The chart tools: focus on x or y values (mask, box, highlight), crop, zoom."""
        return CHART_TOOLS

    def _generate(self, split: Split, difficulty: int, seed: int) -> Task:
        rng = np.random.default_rng([seed, difficulty, 0xC4A27])
        noun, metric, vocabulary = _THEMES[int(rng.integers(len(_THEMES)))]
        n = int(rng.integers(_BARS[difficulty][0], _BARS[difficulty][1] + 1))
        categories = [str(c) for c in rng.choice(vocabulary, size=n, replace=False)]
        decimals = int(rng.integers(0, 2))
        raw_values = _draw_values(rng, n, decimals)
        orientation = "vertical" if rng.random() < 0.5 else "horizontal"
        kind = QUESTION_KINDS[int(rng.integers(len(QUESTION_KINDS)))]
        args: list[str] = []
        if kind == "value":
            args = [categories[int(rng.integers(n))]]
        elif kind in ("compare", "difference"):
            args = [categories[int(i)] for i in rng.choice(n, size=2, replace=False)]
        data: dict[str, Any] = {
            "orientation": orientation,
            "noun": noun,
            "metric": metric,
            "title": f"{metric} by {noun}",
            "categories": categories,
            "raw_values": raw_values,
            "decimals": decimals,
            "bar_color": list(_PALETTE[int(rng.integers(len(_PALETTE)))]),
            "value_font_size": _VALUE_FONT[difficulty],
            "question_kind": kind,
            "question_args": args,
        }
        answer = answer_question(data)
        chart = render_bar_chart(chart_spec(data))
        evidence = {"argmax": [answer], "argmin": [answer]}.get(kind, args)
        return Task(
            id=self.task_id(split, difficulty, seed),
            family=self.name,
            version=self.version,
            split=split,
            difficulty=difficulty,
            seed=seed,
            image=chart.shown,
            source_image=chart.source,
            question=_question_text(kind, args, noun, metric),
            answer=answer,
            answer_type=AnswerType.NUMBER if kind in ("value", "difference") else AnswerType.CHOICE,
            question_kind=kind,
            evidence=tuple(evidence),
            elements=chart.elements,
            tool_names=tuple(t.name for t in tools_for_orientation(orientation)),
            data=data,
        )
