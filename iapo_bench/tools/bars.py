"""The tool of ToolUse-Bars-v0: compare the tops of two bars, magnified.

``compare(bars=["B", "E"])`` returns one image of the rows around the taller bar's top,
magnified :data:`MAGNIFICATION` times from the bars' true heights (which the shown image
rounds to whole pixels), with the two named bars in their own places across the image and
every other bar left out. Two bars that look equally tall as shown differ by 18 rows here, so
the answer is the letter of the column that reaches higher, read by its place as in the
shown image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
from pydantic import Field

from iapo_bench.core import Focus, Task, ToolResult
from iapo_bench.tools.base import Hidden, Tool, ToolError, tool

__all__ = ["BARS_TOOLS", "MAGNIFICATION", "WIDEN", "WINDOW", "compare", "compare_image"]

MAGNIFICATION = 24
"""How many times the compared rows are enlarged."""
WINDOW = 2
"""Rows of the shown image the tool's image covers: the taller top's row and the one above."""
WIDEN = 2
"""How many times the shown image's width is enlarged (columns keep their places)."""
_WHITE = np.array([255, 255, 255], dtype=np.uint8)


def compare_image(
    columns: Sequence[tuple[int, int]],
    heights: Sequence[float],
    colours: Sequence[tuple[int, int, int]],
    baseline: int,
    side: int,
) -> np.ndarray:
    """The magnified tops of bars of true ``heights`` (shown pixels) standing on ``baseline``.

    ``columns`` are the bars' ``[x0, x1)`` ranges in the shown image of width ``side``. The
    image covers the :data:`WINDOW` shown rows ending at the taller bar's rounded top; a bar
    fills its column from its true top down, so a bar too short to reach the window leaves
    its place white.
    """
    top = baseline - round(max(heights))  # the taller bar's top row as shown
    first_row = top - (WINDOW - 1)
    height = WINDOW * MAGNIFICATION
    image = np.full((height, side * WIDEN, 3), _WHITE, dtype=np.uint8)
    for (x0, x1), bar_height, colour in zip(columns, heights, colours, strict=True):
        true_top = baseline - bar_height  # in shown rows, fractional
        start = max(0, round((true_top - first_row) * MAGNIFICATION))
        if start < height:
            image[start:, x0 * WIDEN : x1 * WIDEN] = colour
    image.flags.writeable = False
    return image


@tool
def compare(
    bars: Annotated[list[str], Field(min_length=2, max_length=2)], task: Hidden[Task]
) -> ToolResult:
    """Magnify the tops of two bars, to see which of them is taller.

    The image shows the rows around the taller one's top magnified 24 times, with the two
    bars in their own places from left to right and the others left out; a bar that does not
    reach that high leaves its place empty.

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
    boxes = [task.elements[i].box for i in index]
    image = compare_image(
        [(int(b.x0), int(b.x1)) for b in boxes],
        [float(task.data["heights"][i]) for i in index],
        [tuple(task.data["colours"][i]) for i in index],  # type: ignore[misc]
        int(task.data["baseline"]),
        task.image.shape[1],
    )
    return ToolResult(
        text=f"Compared the tops of bars {named[0]} and {named[1]}, magnified "
        f"{MAGNIFICATION} times.",
        image=image,
        focus=Focus(keys=tuple(named)),
    )


BARS_TOOLS: tuple[Tool, ...] = (compare,)
"""The family's tools."""
