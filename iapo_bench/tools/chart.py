"""Chart tools in the ReFocus / VTool-R1 manner, working from the generator's recorded boxes.

- ``focus_on_{x_values,y_values,rows,columns}_with_{mask,draw,highlight}``: the model names
  labels; the tool finds their regions (``x_value``, ``y_value``, ``row``, ``column``
  elements of the task) and masks every other region of that kind, draws a red box around
  each named one, or tints each named one yellow. A task lists only the targets it records.
- ``crop``: a region of the shown image at the shown resolution.
- ``zoom``: a region re-read at ``factor`` times the shown resolution: re-rasterised from
  the task's vector scene when it has one, else cropped from the source and resized.

Every tool edits the image as first shown (edits do not compose across calls) and returns a
new image; coordinates are pixels of the shown image.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from PIL import Image
from pydantic import Field

from iapo_bench.core import Box, Task, ToolResult
from iapo_bench.scene import rasterize
from iapo_bench.tools.base import Hidden, Tool, ToolError, tool

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
PixelBox = Annotated[list[int], Field(min_length=4, max_length=4)]


TARGETS = {"x_value": "x_values", "y_value": "y_values", "row": "rows", "column": "columns"}
"""Region kinds a task records, and the name each gives its focus tools."""
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
        return ToolResult(text=f"{done} {', '.join(chosen)}.", image=image)

    focus.__doc__ = (
        _SUMMARIES[mode].format(what=what)
        + f"\n\nArgs:\n    labels: The {what}s to focus on, as written in {labels_are}.\n"
    )
    return tool(focus, name=f"focus_on_{TARGETS[target]}_with_{mode}")


def _clip(task: Task, box: list[int]) -> Box:
    height, width = task.image.shape[:2]
    x0, y0, x1, y1 = box
    clipped = Box(
        x0=max(0, min(x0, width)),
        y0=max(0, min(y0, height)),
        x1=max(0, min(x1, width)),
        y1=max(0, min(y1, height)),
    )
    if clipped.width < 4 or clipped.height < 4:
        raise ToolError(
            f"the box {box} covers less than 4x4 pixels of the {width}x{height} image; "
            "give [x0, y0, x1, y1] with x0 < x1 and y0 < y1"
        )
    return clipped


@tool
def crop(box: PixelBox, task: Hidden[Task]) -> ToolResult:
    """Crop a region of the image, at the resolution it was shown.

    Args:
        box: The region as [x0, y0, x1, y1] in pixels of the first image.
    """
    b = _clip(task, box)
    image = task.image[b.y0 : b.y1, b.x0 : b.x1].copy()
    image.flags.writeable = False  # handed over as is: no defensive copy
    return ToolResult(text=f"Cropped {b.as_list()}: {b.width}x{b.height} pixels.", image=image)


@tool
def zoom(
    box: PixelBox,
    task: Hidden[Task],
    factor: Annotated[float, Field(ge=1.0, le=4.0)] = 2.0,
) -> ToolResult:
    """Zoom into a region: re-read it from the full-resolution image and enlarge it.

    Fine print that is not legible in the image as shown becomes legible in the zoom.

    Args:
        box: The region as [x0, y0, x1, y1] in pixels of the first image.
        factor: How many times larger than shown the region is returned, from 1 to 4.
    """
    b = _clip(task, box)
    size = (round(b.width * factor), round(b.height * factor))
    if task.scene is not None:
        # Re-rasterise the vector scene: a crop of an infinitely sharp source.
        image = rasterize(task.scene, factor, b.as_list())
    else:
        source = task.source_image
        sx = source.shape[1] / task.image.shape[1]
        sy = source.shape[0] / task.image.shape[0]
        region = source[round(b.y0 * sy) : round(b.y1 * sy), round(b.x0 * sx) : round(b.x1 * sx)]
        image = np.asarray(Image.fromarray(region).resize(size, Image.Resampling.BICUBIC))
    return ToolResult(
        text=f"Zoomed into {b.as_list()} at {factor:g}x: {size[0]}x{size[1]} pixels.",
        image=image,
    )


_FOCUS_TOOLS = {(target, mode): _focus_tool(target, mode) for target in TARGETS for mode in _EDITS}
CHART_TOOLS: tuple[Tool, ...] = (*_FOCUS_TOOLS.values(), crop, zoom)
"""Every chart tool, in a fixed order."""


def tools_for_targets(targets: tuple[str, ...] | list[str]) -> tuple[Tool, ...]:
    """The focus tools of the region kinds a task records, then crop and zoom."""
    focus = (t for (target, _), t in _FOCUS_TOOLS.items() if target in targets)
    return (*focus, crop, zoom)
