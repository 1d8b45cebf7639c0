"""The checker that proves a family's tasks need their tools, with a real OCR engine.

For tasks whose answer is printed in the image (a value label, a table cell, a field), it
asks: does the OCR engine find that printed text in the image as first shown, and does it
find it in the image the oracle's tool call returns? A family whose hard tasks need their
tools shows a low first rate and a high second one; ``tests/leaderboard/test_tool_need.py``
holds ``ToolUse-Chart-v0``'s hard value lookups (one printed detail each) and
``ToolUse-OCR-v0``'s hard fields to at most 5% and at least 95% over 200 tasks each.
Two-hop answers need two looks (find the largest of one series, then read another) while
the oracle makes one call; BENCHMARKS.md reports them apart. Image-search answers are never
printed at all: their proof is that the answer is nowhere in the first observation.

>>> from iapo_bench.envs import get_family
>>> report = measure_tool_need(get_family("chart"), difficulties=(2,), tasks=2)
>>> report.tasks
2
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.baselines.scripted import OracleAgent
from iapo_bench.core import AnswerType, Element, Split, Task, evidence_elements
from iapo_bench.envs.family import SPLIT_SEEDS, TaskFamily
from iapo_bench.rewards.match import normalize_text, parse_number
from iapo_bench.tools.ocr import OcrEngine, get_engine

__all__ = ["ToolNeedReport", "measure_tool_need", "printed_answer"]

_WITH_UNIT = re.compile(r"\A(\S+)\s+[a-zA-Z]{1,3}\Z")


class ToolNeedReport(BaseModel):
    """How often OCR finds the printed answer without and with the oracle's tool."""

    model_config = ConfigDict(frozen=True)

    family: str = Field(description="The task family.")
    difficulties: tuple[int, ...] = Field(description="The difficulty levels sampled.")
    question_kinds: tuple[str, ...] | None = Field(description="Question kinds kept, or all.")
    engine: str = Field(description="The OCR engine used.")
    tasks: int = Field(description="Tasks measured (those whose answer is printed).")
    shown_rate: float = Field(description="Share found by OCR in the image as first shown.")
    tool_rate: float = Field(description="Share found by OCR in the oracle tool's image.")
    misses: tuple[str, ...] = Field(description="Ids of tasks the tool path missed.")
    leaks: tuple[str, ...] = Field(description="Ids of tasks readable without the tool.")


def printed_answer(task: Task) -> Element | None:
    """The evidence text element that prints the answer, if a detail prints it.

    Labels that name a category (their text is their key) are identifiers drawn to be
    read, not details: a chosen category is not "printed" by its own label.
    """
    for element in evidence_elements(task):
        if not element.text or element.text == element.key:
            continue
        if task.answer_type is AnswerType.NUMBER:
            # A number, or a number with its unit ("450 g").
            unit = _WITH_UNIT.match(element.text)
            value = parse_number(unit.group(1) if unit else element.text)
            if value is not None and value == parse_number(task.answer):
                return element
        elif normalize_text(element.text) == normalize_text(task.answer):
            return element
    return None


def _found(text: str, image, engine: OcrEngine) -> bool:
    wanted = text.replace(" ", "")
    return any(wanted in line.text.replace(" ", "") for line in engine.read(image))


def measure_tool_need(
    family: TaskFamily,
    difficulties: Sequence[int],
    tasks: int = 200,
    split: Split = "train",
    engine: OcrEngine | None = None,
    question_kinds: Sequence[str] | None = None,
) -> ToolNeedReport:
    """Measure ``tasks`` tasks with a printed answer, cycling ``difficulties``, from seed 0.

    Tasks whose answer is not printed (a sum, a comparison) are skipped, as are tasks the
    oracle answers without a tool image, and tasks of other ``question_kinds`` when given.
    """
    engine = engine or get_engine()
    start = SPLIT_SEEDS[split].start
    shown = tool = measured = 0
    misses: list[str] = []
    leaks: list[str] = []
    index = 0
    while measured < tasks:
        if index >= 100 * tasks:
            raise RuntimeError(f"fewer than {tasks} tasks with a printed answer in {index} seeds")
        task = family.generate(split, difficulties[index % len(difficulties)], start + index)
        index += 1
        if question_kinds is not None and task.question_kind not in question_kinds:
            continue
        element = printed_answer(task)
        call = OracleAgent.tool_call(task, set(task.tool_names))
        if element is None or call is None:
            continue
        result = {t.name: t for t in family.tools_for(task)}[call.name](call.arguments, task=task)
        if result.image is None:
            continue
        measured += 1
        if _found(element.text, task.image, engine):
            shown += 1
            leaks.append(task.id)
        if _found(element.text, result.image, engine):
            tool += 1
        else:
            misses.append(task.id)
    return ToolNeedReport(
        family=family.name,
        difficulties=tuple(difficulties),
        question_kinds=None if question_kinds is None else tuple(question_kinds),
        engine=engine.name,
        tasks=measured,
        shown_rate=shown / measured,
        tool_rate=tool / measured,
        misses=tuple(misses),
        leaks=tuple(leaks),
    )
