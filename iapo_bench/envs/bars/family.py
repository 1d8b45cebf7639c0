"""ToolUse-Bars-v0: name the tallest of a few bars, two of which look equally tall.

A small image (56 x 56) shows K bars, lettered from the left (K = 3, 4, 5 at difficulty 0, 1,
2). Two of them are the tallest and, as shown, exactly as tall as each other: their true
heights differ by three quarters of a pixel, and the shown image rounds both to the same
whole pixel, so its bytes do not depend on which of the two is taller. The other bars are at
most 60% as tall, so the two candidates stand out. The question asks for the tallest bar's
letter.

Answering takes both halves of the two-turn setting of the IAPO paper:

- look: find the two tallest bars in the image (any two of them, blindly, holds the tallest
  with chance 2/K);
- call: ``compare`` them, which magnifies their tops 24 times from their true heights, each
  in its own place across the image (:mod:`iapo_bench.tools.bars`), then name the bar whose
  column reaches higher there.

Without the tool no policy can do better than a coin flip between the two (a test holds the
shown image to be identical either way). The answers are single letters and both halves are
read by position, which a small model can learn: the family is built for the small-scale
reproduction of the paper's comparison (``iapo-bench reproduce``). Revision 2 made it so:
revision 1 (4-6 bars, others only six pixels shorter, the tool's two panels side by side
eight times magnified) was not learned by the study's models in the time this machine has.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from iapo_bench.core import AnswerType, Box, Element, Split, Task
from iapo_bench.envs.family import TaskFamily
from iapo_bench.tools.bars import BARS_TOOLS
from iapo_bench.tools.base import Tool

__all__ = ["BASELINE", "COLOURS", "SIDE", "BarsFamily", "render_bars"]

SIDE = 56
"""The shown image's side in pixels (four merged tokens of a Qwen2.5-VL processor)."""
BASELINE = 50
"""The row the bars stand on."""
COLOURS: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (23, 190, 207),
)  # fmt: skip
"""The bar colours (matplotlib's tab10, less its greys): each task draws K of them."""
_OFFSETS = (-0.375, 0.375)  # true top minus shown top: never rounds away


def _slots(count: int) -> list[tuple[int, int]]:
    """The x range ``[x0, x1)`` of each of ``count`` bars, evenly spread."""
    margin, width = 4, SIDE - 8
    slot = width // count
    return [(margin + i * slot + 1, margin + (i + 1) * slot - 1) for i in range(count)]


def render_bars(
    heights: list[float], colours: list[tuple[int, int, int]], scale: int = 1
) -> np.ndarray:
    """The bars at ``scale`` times the shown size, each as tall as ``heights`` rounds to there."""
    side = SIDE * scale
    image = np.full((side, side, 3), 255, dtype=np.uint8)
    image[BASELINE * scale : BASELINE * scale + max(1, scale), :] = (90, 90, 90)  # the axis
    for (x0, x1), height, colour in zip(_slots(len(heights)), heights, colours, strict=True):
        top = BASELINE * scale - round(height * scale)
        image[top : BASELINE * scale, x0 * scale : x1 * scale] = colour
    return image


class BarsFamily(TaskFamily):
    """K bars, two of them tied as shown; which is the tallest? A compare tool tells.

    >>> task = BarsFamily().generate("train", 1, 3)
    >>> task.image.shape, len(task.data["letters"]), task.answer in task.evidence
    ((56, 56, 3), 4, True)
    """

    name = "bars"
    version = "v0"
    revision = 2
    env_id = "ToolUse-Bars-v0"
    difficulties = (0, 1, 2)
    default_difficulty = 2
    default_rubric = "exact_match:1"
    prompt_style = "compact"  # models trained from scratch find the image behind 59 tokens

    @property
    def tools(self) -> tuple[Tool, ...]:
        """``compare``: the tops of two bars, magnified."""
        return BARS_TOOLS

    def _generate(self, split: Split, difficulty: int, seed: int) -> Task:
        rng = np.random.default_rng([seed, difficulty, 0xBA25])
        count = 3 + difficulty
        letters = [chr(ord("A") + i) for i in range(count)]
        palette = [COLOURS[i] for i in rng.permutation(len(COLOURS))[:count]]
        shown_top = int(rng.integers(22, 41))
        pair = sorted(int(i) for i in rng.choice(count, size=2, replace=False))
        offsets = rng.permutation(_OFFSETS)
        heights = [float(rng.integers(6, int(0.6 * shown_top) + 1)) for _ in range(count)]
        for index, offset in zip(pair, offsets, strict=True):
            heights[index] = shown_top + float(offset)
        tallest = max(pair, key=lambda i: heights[i])
        shown = [float(round(h)) for h in heights]
        slots = _slots(count)
        elements = tuple(
            Element(kind="bar", key=letter, box=Box(x0, BASELINE - round(h), x1, BASELINE))
            for letter, (x0, x1), h in zip(letters, slots, heights, strict=True)
        )
        data: dict[str, Any] = {
            "count": count,
            "letters": letters,
            "heights": heights,
            "colours": [list(c) for c in palette],
            "baseline": BASELINE,
            "tied": [letters[i] for i in pair],
        }
        return Task(
            id=self.task_id(split, difficulty, seed),
            family=self.name,
            version=self.version,
            split=split,
            difficulty=difficulty,
            seed=seed,
            image=render_bars(shown, palette),
            render_source=functools.partial(render_bars, heights, palette, 3),
            question=(
                f"{count} bars, {letters[0]} to {letters[-1]} from left to right, stand in the "
                "image. Which bar is the tallest? Answer with its letter."
            ),
            answer=letters[tallest],
            answer_type=AnswerType.CHOICE,
            question_kind="tallest",
            evidence=tuple(letters[i] for i in pair),
            elements=elements,
            tool_names=tuple(t.name for t in BARS_TOOLS),
            data=data,
        )
