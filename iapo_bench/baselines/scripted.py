"""Scripted baselines that anchor every leaderboard: oracle, heuristic, no-tool, random.

- :class:`OracleAgent`: calls the right tool for the task's evidence, then answers from the
  task's hidden reference: the ceiling of the tool path (privileged: it looks the task up).
- :class:`NoToolAgent`: answers at once from the question text alone (a question-only
  prior: the first option a question names, else the commonest training answer of that
  question's template). The floor of answering without looking.
- :class:`~iapo_bench.baselines.heuristic.HeuristicAgent`: the real tools and the visible
  input only (its own module).
- :class:`RandomAgent`: a random tool call or a random answer each turn, seeded per task.
"""

from __future__ import annotations

import functools
import re
import statistics
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from iapo_bench.baselines.base import Info, Observation, question_of
from iapo_bench.baselines.heuristic import HeuristicAgent
from iapo_bench.core import Box, Task, ToolCall, evidence_elements
from iapo_bench.envs.family import families, get_family, load_task, parse_task_id
from iapo_bench.rewards.match import parse_number
from iapo_bench.tools.chart import TARGETS
from iapo_bench.tools.parser import format_answer, format_tool_call

__all__ = [
    "AGENTS",
    "NoToolAgent",
    "OracleAgent",
    "RandomAgent",
    "evidence_elements",
]


_LEGIBLE_HEIGHT = 7  # pixels: evidence text smaller than this is fine print that needs a zoom


def _fine_print(task: Task) -> bool:
    """Whether the evidence's text is too small to read as shown.

    Glyph size is the shorter side of a text box: labels may stand on end.
    """
    return any(
        e.text and min(e.box.width, e.box.height) < _LEGIBLE_HEIGHT for e in evidence_elements(task)
    )


class OracleAgent:
    """Calls the tool that shows the evidence, then answers from the hidden reference.

    Where the evidence is fine print (or the chart has no focus tools) it zooms on it;
    otherwise it highlights the rows, columns or x/y values that hold it, preferring the
    target that narrows things down (draws boxes when the evidence is every category).
    """

    name = "oracle"

    def act(self, observations: Sequence[Observation], infos: Sequence[Info]) -> list[str]:
        """The oracle's message for each episode."""
        return [self._act_one(info) for info in infos]

    def _act_one(self, info: Info) -> str:
        task = load_task(info["task_id"])
        if info["turn"] > 0:
            return format_answer(task.answer)
        call = self.tool_call(task, {schema["function"]["name"] for schema in info["tools"]})
        if call is None:
            return format_answer(task.answer)
        return "The evidence is in a few elements; look at them first.\n" + format_tool_call(call)

    @staticmethod
    def tool_call(task: Task, available: set[str]) -> ToolCall | None:
        """The call the oracle makes for ``task``, or None when no tool applies."""
        if "open_item" in available and task.evidence:  # a gallery item: open it
            return ToolCall(name="open_item", arguments={"item_id": task.evidence[0]})
        if "compare" in available and task.evidence:  # tied bars: compare them
            return ToolCall(name="compare", arguments={"bars": list(task.evidence)})
        if not _fine_print(task):
            choices = []
            for target, name in TARGETS.items():
                keys = _focus_keys(task, target)
                everything = len(keys) == sum(e.kind == target for e in task.elements)
                # A tint over every category narrows nothing: box them instead.
                tool_name = f"focus_on_{name}_with_{'draw' if everything else 'highlight'}"
                if keys and tool_name in available:
                    choices.append((everything, tool_name, keys))
            if choices:
                _, tool_name, keys = min(choices, key=lambda choice: choice[0])
                return ToolCall(name=tool_name, arguments={"labels": keys})
        boxes = [e.box for e in evidence_elements(task)]
        if not boxes or "zoom" not in available:
            return None
        box = _pad(functools.reduce(Box.union, boxes), task, margin=6)
        # Three times the shown size makes 5-pixel fine print 15 pixels tall; large regions
        # get less, keeping the zoom within 1,200 pixels a side.
        factor = max(1.0, min(3.0, 1200 / max(box.width, box.height)))
        return ToolCall(name="zoom", arguments={"box": box.as_list(), "factor": round(factor, 2)})


def _pad(box: Box, task: Task, margin: int) -> Box:
    """``box`` grown by ``margin`` pixels, within the image: OCR misses text on an edge."""
    height, width = task.image.shape[:2]
    return Box(
        x0=max(0, box.x0 - margin),
        y0=max(0, box.y0 - margin),
        x1=min(width, box.x1 + margin),
        y1=min(height, box.y1 + margin),
    )


def _focus_keys(task: Task, target: str) -> list[str]:
    """Evidence keys to focus on with one target (all of them for whole-chart questions)."""
    keys = {e.key for e in task.elements if e.kind == target}
    series = task.data.get("question_args", {}).get("series")
    if target == "column" and series in keys:  # a whole column holds the evidence
        return [series]
    return [k for k in task.evidence if k in keys]


_OPTIONS = re.compile(r":\s*(.+?) or (.+?)\?\s*\Z")


@functools.lru_cache(maxsize=8)
def _training_priors(family_name: str, samples: int = 300) -> dict[str, str]:
    """Per question template, the commonest training answer (the median for numbers)."""
    family = get_family(family_name)
    answers: dict[str, list[str]] = {}
    for seed in range(samples):
        task = family.generate("train", family.difficulties[seed % len(family.difficulties)], seed)
        answers.setdefault(_template(task.question), []).append(task.answer)
    priors = {}
    for template, values in answers.items():
        numbers = [parse_number(v) for v in values]
        if all(n is not None for n in numbers):
            priors[template] = f"{statistics.median(numbers):g}"  # type: ignore[type-var]
        else:
            priors[template] = Counter(values).most_common(1)[0][0]
    return priors


def _template(question: str) -> str:
    """The question with its named entities and numbers blanked: its template."""
    return re.sub(r"\b[A-Z][\w-]*\b|\d+(\.\d+)?", "_", question)


class NoToolAgent:
    """Answers at once from the question text alone, never looking at tools.

    Its priors are computed from training tasks of ``family_names`` (default: every
    registered family) when it is made, so that one-time cost (seconds per family) is not
    counted in episode latencies; a family met later is computed on first use. The agent
    holds its priors, so a copy sent to a worker process does not compute them again.

    Args:
        family_names: The families it will answer, e.g. ``["ocr"]``.
    """

    name = "no-tool"

    def __init__(self, family_names: Iterable[str] | None = None) -> None:
        names = families() if family_names is None else family_names
        self.priors: dict[str, dict[str, str]] = {n: _training_priors(n) for n in names}
        """Per family, the commonest training answer of each question template."""

    def act(self, observations: Sequence[Observation], infos: Sequence[Info]) -> list[str]:
        """An immediate answer for each episode."""
        return [self._answer(info) for info in infos]

    def _answer(self, info: Info) -> str:
        question = question_of(info)
        options = _OPTIONS.search(question)
        if options:
            return format_answer(options.group(1).strip())
        family_name = parse_task_id(info["task_id"])[0]
        if family_name not in self.priors:
            self.priors[family_name] = _training_priors(family_name)
        return format_answer(self.priors[family_name].get(_template(question), "0"))


class RandomAgent:
    """Each turn, a random call of an available tool (random arguments) or a random answer.

    Seeded per ``(seed, task id, turn)``, so results do not depend on batching or order.
    """

    name = "random"

    def __init__(self, seed: int = 0, answer_probability: float = 0.4) -> None:
        self.seed = seed
        self.answer_probability = answer_probability

    def reseed(self, seed: int) -> None:
        """Use ``seed`` from now on (the harness reseeds before each repeat of a task)."""
        self.seed = seed

    def act(self, observations: Sequence[Observation], infos: Sequence[Info]) -> list[str]:
        """A random message for each episode."""
        return [self._act_one(obs, info) for obs, info in zip(observations, infos, strict=True)]

    def _act_one(self, obs: Observation, info: Info) -> str:
        rng = np.random.default_rng([self.seed, zlib.crc32(info["task_id"].encode()), info["turn"]])
        words = re.findall(r"[A-Z][a-z]+", question_of(info)) or ["yes"]
        if rng.random() < self.answer_probability or not info["tools"]:
            if rng.random() < 0.5:
                return format_answer(str(rng.choice(words)))
            return format_answer(f"{rng.uniform(0, 100):.1f}")
        schema = info["tools"][int(rng.integers(len(info["tools"])))]["function"]
        height, width = obs["images"][0].shape[:2]
        arguments = {
            name: _random_argument(rng, prop, words, width, height)
            for name, prop in schema["parameters"]["properties"].items()
        }
        return format_tool_call(ToolCall(name=schema["name"], arguments=arguments))


def _random_argument(
    rng: np.random.Generator, prop: dict[str, Any], words: list[str], width: int, height: int
) -> Any:
    kind = prop.get("type")
    if kind == "array" and prop.get("items", {}).get("type") == "integer":
        xs = sorted(int(v) for v in rng.integers(0, width, size=2))
        ys = sorted(int(v) for v in rng.integers(0, height, size=2))
        return [xs[0], ys[0], xs[1], ys[1]]
    if kind == "array":
        return [str(w) for w in rng.choice(words, size=int(rng.integers(1, 3)))]
    if kind == "number":
        return round(float(rng.uniform(prop.get("minimum", 0), prop.get("maximum", 10))), 2)
    if kind == "integer":
        return int(rng.integers(prop.get("minimum", 0), prop.get("maximum", 10) + 1))
    return str(rng.choice(words))


AGENTS = {
    "oracle": OracleAgent,
    "heuristic": HeuristicAgent,
    "no-tool": NoToolAgent,
    "random": RandomAgent,
}
"""Scripted agents by name."""
