"""Image-search tools: search a local gallery by words or by a region of the image; open an item.

- ``search_images``: a text query is ranked by BM25 over the items' titles, makers, tags and
  captions; a box ``[x0, y0, x1, y1]`` searches by the pixels of that region of the first
  image (colour, layout and shape features; see :mod:`iapo_bench.tools.gallery`). Returns
  the ranked ids and titles, and a contact sheet of the thumbnails with their ids.
- ``open_item``: an item's full image and its metadata (price, maker, year, tags, caption).
- :func:`gallery_of`: the gallery a task searches, named by ``task.data["gallery"]``
  (``{"name", "size", "seed"}``) and built or loaded once per process.
- :func:`contact_sheet`: the thumbnail grid ``search_images`` returns.
- :data:`SEARCH_TOOLS`: both tools, in order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated

import numpy as np
from PIL import Image, ImageDraw
from pydantic import Field

from iapo_bench.core import Focus, Task, ToolResult
from iapo_bench.fonts import font
from iapo_bench.tools.base import Hidden, Tool, ToolError, tool
from iapo_bench.tools.gallery import Gallery, Hit, get_gallery
from iapo_bench.tools.gallery import item_id as id_of
from iapo_bench.tools.image import PixelBox, clip_box

__all__ = [
    "SEARCH_TOOLS",
    "THUMBNAIL_SIDE",
    "contact_sheet",
    "gallery_of",
    "open_item",
    "parse_item_id",
    "search_images",
]

THUMBNAIL_SIDE = 96
"""Side of a contact-sheet thumbnail in pixels."""
_COLUMNS = 5
_LABEL = 18  # pixels under each thumbnail for its id
_GAP = 6
_ID = re.compile(r"\A\s*G-?(\d{1,5})\s*\Z", re.IGNORECASE)


def gallery_of(task: Task) -> Gallery:
    """The gallery ``task`` searches; ``ToolError`` if it names none."""
    spec = task.data.get("gallery")
    if not isinstance(spec, dict):
        raise ToolError("this task has no gallery to search")
    return get_gallery(str(spec["name"]), int(spec["size"]), int(spec["seed"]))


def parse_item_id(text: str) -> int | None:
    """The index an item id names (forgiving case, spaces and a missing dash), or None.

    >>> parse_item_id("G-00421"), parse_item_id(" g00421 "), parse_item_id("item 5")
    (421, 421, None)
    """
    match = _ID.match(text)
    return None if match is None else int(match[1])


def contact_sheet(gallery: Gallery, hits: Sequence[Hit]) -> np.ndarray:
    """A grid of the hits' thumbnails, five a row, each with its rank and id printed under it."""
    columns = min(_COLUMNS, len(hits))
    rows = math.ceil(len(hits) / _COLUMNS)
    cell_w, cell_h = THUMBNAIL_SIDE + _GAP, THUMBNAIL_SIDE + _LABEL + _GAP
    sheet = Image.new("RGB", (columns * cell_w + _GAP, rows * cell_h + _GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    label_font = font("mono", 12)
    for rank, hit in enumerate(hits):
        row, column = divmod(rank, _COLUMNS)
        x, y = _GAP + column * cell_w, _GAP + row * cell_h
        sheet.paste(Image.fromarray(gallery.thumbnail(hit.index, THUMBNAIL_SIDE)), (x, y))
        draw.text(
            (x + THUMBNAIL_SIDE // 2, y + THUMBNAIL_SIDE + 3),
            f"{rank + 1}. {hit.item.id}",
            font=label_font,
            fill=(0, 0, 0),
            anchor="mt",
        )
    return np.asarray(sheet)


def _listing(hits: Sequence[Hit], score_format: str) -> str:
    return "\n".join(
        f"{rank}. {hit.item.id}  {hit.item.title}  (score {hit.score:{score_format}})"
        for rank, hit in enumerate(hits, start=1)
    )


@tool
def search_images(
    query: str | PixelBox,
    task: Hidden[Task],
    k: Annotated[int, Field(ge=1, le=10)] = 5,
) -> ToolResult:
    """Search the item gallery by words or by a region of the image; shows the best matches.

    Words are ranked against the items' titles, makers, tags and captions. A box searches for
    items that look like that region of the first image. Returns the ids and titles of the
    top k items and a contact sheet of their thumbnails with their ids.

    Args:
        query: Words describing the item (e.g. colours, object, pattern), or a box
            [x0, y0, x1, y1] in pixels of the first image to search by its look.
        k: How many results to show, from 1 to 10.
    """
    gallery = gallery_of(task)
    if isinstance(query, str):
        if not query.strip():
            raise ToolError("the query is empty; give words describing the item or a box")
        if not gallery.text_index.known_terms(query):
            raise ToolError(
                f"none of the words of {query!r} occur in the gallery's titles, makers, tags "
                "or captions; try other words, or search by a box of the image"
            )
        hits = gallery.search_text(query, k)
        header = f"Top {len(hits)} items for the words {query!r}:"
        listing = _listing(hits, ".2f")
        focus = None  # words look at no region of the image
    else:
        box = clip_box(task, query)
        region = task.image[box.y0 : box.y1, box.x0 : box.x1]
        hits = gallery.search_image(region, k)
        header = f"Top {len(hits)} items that look like the region {box.as_list()}:"
        listing = _listing(hits, ".3f")
        focus = Focus(boxes=(box,))
    footer = "Open one with open_item to see its price, maker, year and full description."
    return ToolResult(
        text=f"{header}\n{listing}\n{footer}", image=contact_sheet(gallery, hits), focus=focus
    )


@tool
def open_item(item_id: str, task: Hidden[Task]) -> ToolResult:
    """Open a gallery item: its full image and its metadata.

    The metadata lists its id, title, kind, price, maker, year, tags and caption.

    Args:
        item_id: The item's id as the search results show it ('G-' and five digits).
    """
    gallery = gallery_of(task)
    index = parse_item_id(item_id)
    if index is None or index >= gallery.size:
        raise ToolError(
            f"there is no gallery item {item_id!r}; ids are 'G-' and five digits, "
            f"from {id_of(0)} to {id_of(gallery.size - 1)}, as search results show them"
        )
    item = gallery.items[index]
    return ToolResult(
        text=item.metadata_text(), image=gallery.image(index), focus=Focus(items=(item.id,))
    )


SEARCH_TOOLS: tuple[Tool, ...] = (search_images, open_item)
"""The image-search tools, in order."""
