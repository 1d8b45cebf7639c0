"""The procedural gallery of ToolUse-ImageSearch-v0, registered for the search tools.

:class:`ProceduralGallery` is a :class:`~iapo_bench.tools.gallery.GallerySource`: item
metadata from :func:`~iapo_bench.envs.search.items.item_specs`, pixels from
:func:`~iapo_bench.envs.search.render.render_item`. Its fingerprint covers the generator's
revision and source code and the rendering libraries, so a changed generator or Pillow never
reads a stale cache. Importing this module registers :data:`GALLERY` under :data:`GALLERY_NAME`.

- :data:`GALLERY_SIZE`, :data:`GALLERY_SEED`: the gallery every v0 task searches.
- :func:`build_gallery` / :func:`get_gallery`: that gallery (or another size or seed),
  built now or from the disk cache (see :func:`iapo_bench.cache.cache_root`).
- :func:`items_of`: metadata of a gallery without building its index (tasks use it).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from iapo_bench.envs.family import rendering_environment
from iapo_bench.envs.search.items import gallery_item, item_specs
from iapo_bench.envs.search.render import render_item
from iapo_bench.tools import gallery as index
from iapo_bench.tools.gallery import Gallery, GalleryItem

__all__ = [
    "GALLERY",
    "GALLERY_NAME",
    "GALLERY_REVISION",
    "GALLERY_SEED",
    "GALLERY_SIZE",
    "ProceduralGallery",
    "build_gallery",
    "get_gallery",
    "items_of",
]

GALLERY_NAME = "search-v0"
"""The source name tasks give in ``task.data["gallery"]``."""
GALLERY_REVISION = 1
"""Bumped whenever item metadata or pixels change."""
GALLERY_SIZE = 1000
"""Items in the gallery of every v0 task."""
GALLERY_SEED = 20_260_611
"""The seed of that gallery, fixed for the family version."""


@functools.lru_cache(maxsize=8)
def items_of(size: int, seed: int) -> tuple[GalleryItem, ...]:
    """The metadata of a gallery's items (cached; no pixels, no index)."""
    return tuple(gallery_item(spec) for spec in item_specs(size, seed))


class ProceduralGallery:
    """Generated products, scenes and posters, re-rendered from their specs on demand.

    >>> source = ProceduralGallery()
    >>> source.items(3, 1)[0].id, source.render(3, 1, 0).shape
    ('G-00000', (256, 256, 3))
    """

    name = GALLERY_NAME

    @functools.cached_property
    def fingerprint(self) -> str:
        """A hash of the generator (revision and source code) and the rendering libraries.

        The source code is in it so that a cache made by an edited generator is never read,
        even before its revision is bumped.
        """
        code = hashlib.sha256()
        for module in ("vocabulary.py", "items.py", "render.py"):
            code.update(Path(__file__).with_name(module).read_bytes())
        payload = {
            "gallery": self.name,
            "revision": GALLERY_REVISION,
            "code": code.hexdigest(),
            **rendering_environment(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def items(self, size: int, seed: int) -> Sequence[GalleryItem]:
        """The metadata of items ``0 .. size - 1``."""
        return items_of(size, seed)

    def render(self, size: int, seed: int, index: int) -> np.ndarray:
        """Item ``index``'s full image."""
        if not 0 <= index < size:
            raise IndexError(f"item index {index} is outside a gallery of {size}")
        return render_item(item_specs(size, seed)[index])


GALLERY = index.register_gallery_source(ProceduralGallery())
"""The registered source."""


def build_gallery(size: int = GALLERY_SIZE, seed: int = GALLERY_SEED) -> Gallery:
    """Render, featurise and index a gallery now (no cache)."""
    return index.build_gallery(GALLERY, size, seed)


def get_gallery(size: int = GALLERY_SIZE, seed: int = GALLERY_SEED) -> Gallery:
    """The gallery from the disk cache, built and cached on a miss; once per process."""
    return index.get_gallery(GALLERY_NAME, size, seed)
