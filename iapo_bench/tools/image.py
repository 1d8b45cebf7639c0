"""Image tools every family shares: crop and zoom, with their box handling.

- ``crop``: a region of the shown image at the shown resolution.
- ``zoom``: a region re-read at ``factor`` times the shown resolution: re-rasterised from
  the task's vector scene when it has one, else cropped from the full-resolution source and
  resized.

Coordinates are pixels of the image the model was first shown, as ``[x0, y0, x1, y1]``.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from PIL import Image
from pydantic import Field

from iapo_bench.core import Box, Focus, Task, ToolResult
from iapo_bench.scene import rasterize
from iapo_bench.tools.base import Hidden, ToolError, tool

__all__ = ["PixelBox", "clip_box", "crop", "zoom"]

PixelBox = Annotated[list[int], Field(min_length=4, max_length=4)]
"""A box argument: ``[x0, y0, x1, y1]`` in pixels of the first image."""


def clip_box(task: Task, box: list[int]) -> Box:
    """``box`` clipped to the shown image; ``ToolError`` if under 4x4 pixels remain."""
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
    b = clip_box(task, box)
    image = task.image[b.y0 : b.y1, b.x0 : b.x1].copy()
    image.flags.writeable = False  # handed over as is: no defensive copy
    return ToolResult(
        text=f"Cropped {b.as_list()}: {b.width}x{b.height} pixels.",
        image=image,
        focus=Focus(boxes=(b,)),
    )


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
    b = clip_box(task, box)
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
        focus=Focus(boxes=(b,)),
    )
