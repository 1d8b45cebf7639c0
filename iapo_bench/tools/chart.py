"""Chart tools in the ReFocus / VTool-R1 manner, working from the generator's recorded boxes.

- ``focus_on_{x_values,y_values,rows,columns}_with_{mask,draw,highlight}``: the model names
  labels; the tool finds their regions (``x_value``, ``y_value``, ``row``, ``column``
  elements of the task) and masks every other region of that kind, draws a red box around
  each named one, or tints each named one yellow. A task lists only the targets it records.
- ``crop`` and ``zoom`` (from :mod:`iapo_bench.tools.image`), which every family shares.

Every tool edits the image as first shown (edits do not compose across calls) and returns a
new image; coordinates are pixels of the shown image.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from iapo_bench.core import Box, Focus, Task, ToolResult
from iapo_bench.tools.base import Hidden, Tool, ToolError, tool
from iapo_bench.tools.image import crop, zoom

__all__ = [
    "BOX_COLOR",
    "CHART_TOOLS",
    "HIGHLIGHT_ALPHA",
    "HIGHLIGHT_COLOR",
    "MASK_COLOR",
    "TARGETS",
    "crop",
    "tools_for_targets",
    "zoom",
]

MASK_COLOR = np.array([255, 255, 255], dtype=np.uint8)
"""What masked regions are painted with (the chart background)."""
BOX_COLOR = np.array([220, 20, 60], dtype=np.uint8)
"""The colour of drawn boxes."""
BOX_WIDTH = 3
"""Drawn box line width in pixels, inside the region."""
HIGHLIGHT_COLOR = np.array([255, 221, 0], dtype=np.float32)
"""The highlight tint."""
HIGHLIGHT_ALPHA = 0.4
"""How strongly highlighted pixels are tinted: ``rint(0.6 * pixel + 0.4 * tint)``."""
# The same blend in integers: (3p + 2t) / 5 never ends in .5, so (3p + 2t + 2) // 5 is rint,
# and for numerators below 1,278 the division is a multiply and a shift (checked in tests).
_TINT_TWICE_PLUS_HALF = (2 * HIGHLIGHT_COLOR + 2).astype(np.uint32)

Labels = Annotated[list[str], Field(min_length=1, max_length=32)]


TARGETS = {"x_value": "x_values", "y_value": "y_values", "row": "rows", "column": "columns"}
"""Region kinds a task records, and the name each gives its focus tools (the kinds are
:data:`iapo_bench.core.FOCUS_REGION_KINDS`)."""
_WHAT = {
    "x_value": ("x value", "the x-axis labels"),
    "y_value": ("y value", "the y-axis labels"),
    "row": ("row", "the row headers (first column)"),
    "column": ("column", "the column headers"),
}


def _regions(task: Task, target: str) -> dict[str, Box]:
    return {e.key: e.box for e in task.elements if e.kind == target}


def _resolve(task: Task, target: str, labels: list[str]) -> tuple[dict[str, Box], list[str]]:
    """All regions of the target and the keys named by ``labels`` (case and spaces forgiven)."""
    regions = _regions(task, target)
    by_folded = {key.casefold().strip(): key for key in regions}
    chosen: list[str] = []
    for label in labels:
        key = by_folded.get(label.casefold().strip())
        if key is None:
            what = _WHAT[target][0]
            known = ", ".join(regions)
            raise ToolError(f"no {what} {label!r} in this image; its {what}s are: {known}")
        if key not in chosen:
            chosen.append(key)
    return regions, chosen


def _mask(image: np.ndarray, regions: dict[str, Box], keep: list[str]) -> np.ndarray:
    out = image.copy()
    for key, box in regions.items():
        if key not in keep:
            out[box.y0 : box.y1, box.x0 : box.x1] = MASK_COLOR
    return out


def _draw(image: np.ndarray, regions: dict[str, Box], keep: list[str]) -> np.ndarray:
    out = image.copy()
    w = BOX_WIDTH
    for key in keep:
        b = regions[key]
        out[b.y0 : b.y0 + w, b.x0 : b.x1] = BOX_COLOR
        out[b.y1 - w : b.y1, b.x0 : b.x1] = BOX_COLOR
        out[b.y0 : b.y1, b.x0 : b.x0 + w] = BOX_COLOR
        out[b.y0 : b.y1, b.x1 - w : b.x1] = BOX_COLOR
    return out


def _highlight(image: np.ndarray, regions: dict[str, Box], keep: list[str]) -> np.ndarray:
    out = image.copy()
    for key in keep:
        b = regions[key]
        patch = out[b.y0 : b.y1, b.x0 : b.x1].astype(np.uint32)
        patch *= 3
        patch += _TINT_TWICE_PLUS_HALF
        patch *= 52429
        patch >>= 18
        out[b.y0 : b.y1, b.x0 : b.x1] = patch
    return out


_EDITS = {"mask": _mask, "draw": _draw, "highlight": _highlight}
_SUMMARIES = {
    "mask": "Mask every {what} except the named ones: the others are blanked out, so only "
    "the named ones stay visible.",
    "draw": "Draw a red box around each named {what} (its marks and its labels).",
    "highlight": "Highlight each named {what} (its marks and its labels) with a yellow tint.",
}
_DONE = {
    "mask": "Masked all {what}s except",
    "draw": "Drew a box around",
    "highlight": "Highlighted",
}


def _focus_tool(target: str, mode: str) -> Tool:
    edit = _EDITS[mode]
    what, labels_are = _WHAT[target]

    def focus(labels: Labels, task: Hidden[Task]) -> ToolResult:
        regions, chosen = _resolve(task, target, labels)
        image = edit(task.image, regions, chosen)
        image.flags.writeable = False  # handed over as is: no defensive copy
        done = _DONE[mode].format(what=what)
        return ToolResult(
            text=f"{done} {', '.join(chosen)}.", image=image, focus=Focus(keys=tuple(chosen))
        )

    focus.__doc__ = (
        _SUMMARIES[mode].format(what=what)
        + f"\n\nArgs:\n    labels: The {what}s to focus on, as written in {labels_are}.\n"
    )
    return tool(focus, name=f"focus_on_{TARGETS[target]}_with_{mode}")


_FOCUS_TOOLS = {(target, mode): _focus_tool(target, mode) for target in TARGETS for mode in _EDITS}
CHART_TOOLS: tuple[Tool, ...] = (*_FOCUS_TOOLS.values(), crop, zoom)
"""Every chart tool, in a fixed order."""


def tools_for_targets(targets: tuple[str, ...] | list[str]) -> tuple[Tool, ...]:
    """The focus tools of the region kinds a task records, then crop and zoom."""
    focus = (t for (target, _), t in _FOCUS_TOOLS.items() if target in targets)
    return (*focus, crop, zoom)
