"""The tool of ToolUse-Bars-v0: compare the tops of two bars, magnified.

``compare(bars=["B", "E"])`` returns one image with two panels side by side (left: the first
bar named, right: the second), each showing the rows around the taller bar's top magnified
:data:`MAGNIFICATION` times from the bars' true heights, which the shown image rounds to whole
pixels. Two bars that look equally tall as shown differ by at least two pixels here.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from iapo_bench.core import Focus, Task, ToolResult
from iapo_bench.tools.base import Hidden, Tool, ToolError, tool

__all__ = ["BARS_TOOLS", "MAGNIFICATION", "PANEL", "compare", "compare_image"]

MAGNIFICATION = 8
"""How many times the compared rows are enlarged."""
WINDOW = 6
"""Rows of the shown image each panel covers: three above the taller top, three below."""
PANEL = 24
"""Width of each panel, in pixels of the tool's image."""
_GAP = 8
_WHITE = np.array([255, 255, 255], dtype=np.uint8)


def compare_image(heights: tuple[float, float], colours: tuple[tuple[int, int, int], ...],
                  baseline: int) -> np.ndarray:  # fmt: skip
    """The two panels for bars of true ``heights`` (shown pixels) standing on ``baseline``.

    Each panel covers the :data:`WINDOW` shown rows centred on the taller bar's rounded top;
    a bar fills its panel from its true top down, so a bar too short to reach the window
    leaves its panel white.
    """
    top = baseline - round(max(heights))  # the taller bar's top as shown
    first_row = top - WINDOW // 2
    height = WINDOW * MAGNIFICATION
    image = np.full((height, 2 * PANEL + _GAP, 3), _WHITE, dtype=np.uint8)
    image[:, PANEL : PANEL + _GAP] = (200, 200, 200)  # a grey divider
    for index, (bar_height, colour) in enumerate(zip(heights, colours, strict=True)):
        true_top = baseline - bar_height  # in shown rows, fractional
        start = max(0, round((true_top - first_row) * MAGNIFICATION))
        x0 = index * (PANEL + _GAP)
        if start < height:
            image[start:, x0 + 4 : x0 + PANEL - 4] = colour
    image.flags.writeable = False
    return image


@tool
def compare(
    bars: Annotated[list[str], Field(min_length=2, max_length=2)], task: Hidden[Task]
) -> ToolResult:
    """Magnify the tops of two bars side by side, to see which of them is taller.

    The left panel shows the first bar named, the right panel the second, both magnified
    eight times around the taller one's top; a bar that does not reach that high leaves its
    panel empty.

    Args:
        bars: The letters of the two bars to compare, e.g. ["B", "E"].
    """
    letters = task.data["letters"]
    named = [str(b).strip().upper() for b in bars]
    unknown = [b for b in named if b not in letters]
    if unknown:
        raise ToolError(f"no bar {unknown[0]!r}; the bars are {', '.join(letters)}")
    if named[0] == named[1]:
        raise ToolError("name two different bars")
    index = [letters.index(b) for b in named]
    heights = tuple(float(task.data["heights"][i]) for i in index)
    colours = tuple(tuple(task.data["colours"][i]) for i in index)
    image = compare_image(heights, colours, int(task.data["baseline"]))  # type: ignore[arg-type]
    return ToolResult(
        text=f"Compared the tops of bars {named[0]} (left) and {named[1]} (right), magnified "
        f"{MAGNIFICATION} times.",
        image=image,
        focus=Focus(keys=tuple(named)),
    )


BARS_TOOLS: tuple[Tool, ...] = (compare,)
"""The family's tools."""
