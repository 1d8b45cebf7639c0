"""Galleries: items and their sources, the searchable :class:`Gallery`, and its disk cache.

- :class:`GalleryItem`: one item's metadata (id, kind, title, price, maker, year, tags, caption).
- :class:`GallerySource`: what makes a gallery: items' metadata and each item's full image.
- :func:`register_gallery_source` / :func:`gallery_source`: the registry of sources by name.
- :class:`Gallery`: items, their feature rows and text index, with text and image search.
- :func:`build_gallery`, :func:`get_gallery`, :func:`cache_dir`: build one, or load it from
  the disk cache (building and caching it on a miss), once per process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.cache import cache_root
from iapo_bench.tools.gallery.bm25 import BM25Index
from iapo_bench.tools.gallery.features import (
    FEATURES_VERSION,
    WINDOWS,
    image_features,
    item_features,
    similarity,
)

__all__ = [
    "Gallery",
    "GalleryItem",
    "GallerySource",
    "Hit",
    "build_gallery",
    "cache_dir",
    "gallery_source",
    "get_gallery",
    "item_id",
    "register_gallery_source",
]


def item_id(index: int) -> str:
    """The id of gallery item ``index``.

    >>> item_id(421)
    'G-00421'
    """
    return f"G-{index:05d}"


class GalleryItem(BaseModel):
    """One gallery item's metadata: what ``open_item`` shows and BM25 indexes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="The item's id, 'G-' and five digits (its index).")
    kind: str = Field(description="What it is: 'product', 'scene' or 'poster'.")
    title: str = Field(description="Its title.")
    price: str = Field(description="Its price in US dollars with two decimals, e.g. '24.99'.")
    maker: str = Field(description="Who makes it (an invented brand).")
    year: int = Field(description="The year it was released.")
    tags: tuple[str, ...] = Field(description="Lower-case tag words.")
    caption: str = Field(description="One sentence describing what it shows.")

    def document(self) -> str:
        """The text BM25 indexes: title, maker, tags and caption."""
        return " ".join((self.title, self.maker, " ".join(self.tags), self.caption))

    def metadata_text(self) -> str:
        """The metadata as ``open_item`` shows it, one field a line."""
        return "\n".join(
            (
                f"id: {self.id}",
                f"title: {self.title}",
                f"kind: {self.kind}",
                f"price: ${self.price}",
                f"maker: {self.maker}",
                f"year: {self.year}",
                f"tags: {', '.join(self.tags)}",
                f"caption: {self.caption}",
            )
        )


class GallerySource(Protocol):
    """What makes a gallery of ``size`` items from a ``seed``; registered under its name."""

    name: str
    """The name tasks give in ``task.data["gallery"]["name"]``."""
    fingerprint: str
    """Changes whenever any item's metadata or pixels would (generator revision, libraries)."""

    def items(self, size: int, seed: int) -> Sequence[GalleryItem]:
        """The metadata of items ``0 .. size - 1``."""
        ...

    def render(self, size: int, seed: int, index: int) -> np.ndarray:
        """The full image of item ``index``, ``uint8 (H, W, 3)``."""
        ...


_SOURCES: dict[str, GallerySource] = {}


def register_gallery_source(source: GallerySource) -> GallerySource:
    """Make ``source`` findable by its name (a family does this on import); returns it."""
    if source.name in _SOURCES and _SOURCES[source.name] is not source:
        raise ValueError(f"a gallery source named {source.name!r} is already registered")
    _SOURCES[source.name] = source
    return source


def gallery_source(name: str) -> GallerySource:
    """The registered source called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return _SOURCES[name]
    except KeyError:
        raise KeyError(
            f"unknown gallery source {name!r}; known: {sorted(_SOURCES)} "
            "(importing iapo_bench.envs registers the families' galleries)"
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class Hit:
    """One search result."""

    index: int
    """The item's index in the gallery."""
    item: GalleryItem
    """Its metadata."""
    score: float
    """BM25 score (text) or cosine similarity (image); higher is better."""


class Gallery:
    """A built gallery: metadata, image features and a BM25 index, searchable by text or image.

    ``features`` has one row per item and window, ``(size, 1 + len(WINDOWS), D)``. Made by
    :func:`build_gallery` or :func:`get_gallery`; images are re-rendered by the source.
    """

    def __init__(
        self,
        source: GallerySource,
        size: int,
        seed: int,
        items: Sequence[GalleryItem],
        features: np.ndarray,
    ) -> None:
        if len(items) != size or features.shape[0] != size:
            raise ValueError(
                f"a gallery of {size} items needs {size} items and feature rows, "
                f"got {len(items)} and {features.shape[0]}"
            )
        self.source = source
        self.size = size
        self.seed = seed
        self.items = tuple(items)
        self.features = np.ascontiguousarray(features, dtype=np.float32)
        self.features.flags.writeable = False
        self.text_index = BM25Index([item.document() for item in self.items])
        self._by_id = {item.id: i for i, item in enumerate(self.items)}

    def index_of(self, item_id: str) -> int | None:
        """The index of the item called ``item_id``, or None."""
        return self._by_id.get(item_id)

    def image(self, index: int) -> np.ndarray:
        """Item ``index``'s full image, re-rendered."""
        return self.source.render(self.size, self.seed, index)

    def thumbnail(self, index: int, side: int = 96) -> np.ndarray:
        """Item ``index``'s image reduced to ``side x side`` pixels."""
        image = Image.fromarray(self.image(index))
        return np.asarray(image.resize((side, side), Image.Resampling.LANCZOS))

    def _top(self, scores: np.ndarray, k: int) -> list[Hit]:
        # Stable sort: equal scores keep the lower index first, the same in every process.
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(int(i), self.items[int(i)], float(scores[i])) for i in order]

    def search_text(self, query: str, k: int = 5) -> list[Hit]:
        """The ``k`` best items for a text query by BM25 (fewer if fewer match any term)."""
        scores = self.text_index.scores(query)
        return [hit for hit in self._top(scores, k) if hit.score > 0]

    def search_image(self, image: np.ndarray, k: int = 5) -> list[Hit]:
        """The ``k`` items whose features are nearest to ``image``'s (cosine similarity)."""
        return self._top(similarity(self.features, image_features(image)), k)


def build_gallery(source: GallerySource, size: int, seed: int) -> Gallery:
    """Render every item of ``source`` once, compute its features and index its text."""
    if size < 1:
        raise ValueError(f"a gallery needs at least one item, got size {size}")
    items = source.items(size, seed)
    chunks = []
    for start in range(0, size, 64):  # features are computed 64 images at a time
        images = [source.render(size, seed, i) for i in range(start, min(size, start + 64))]
        chunks.append(item_features(images))
    return Gallery(source, size, seed, items, np.concatenate(chunks))


def cache_dir(source: GallerySource, size: int, seed: int) -> Path:
    """The folder of one gallery's cache, keyed by everything its bytes depend on."""
    # The gallery package's own code is in the key too: edited features never read stale rows.
    code = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        code.update(module.read_bytes())
    key = f"{source.fingerprint}/features-{FEATURES_VERSION}/{code.hexdigest()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root() / "galleries" / f"{source.name}-n{size}-s{seed}-{digest}"


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; a cache may be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _save(gallery: Gallery, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, features=gallery.features)
    features = buffer.getvalue()
    _write_atomically(folder / "features.npz", features)
    manifest = {
        "name": gallery.source.name,
        "size": gallery.size,
        "seed": gallery.seed,
        "fingerprint": gallery.source.fingerprint,
        "features_version": FEATURES_VERSION,
        "features_sha256": hashlib.sha256(features).hexdigest(),
        "items": [item.model_dump(mode="json") for item in gallery.items],
    }
    # The manifest goes last: a folder without one (or with a stale one) is rebuilt.
    _write_atomically(folder / "items.json", json.dumps(manifest).encode())


def _load(source: GallerySource, size: int, seed: int, folder: Path) -> Gallery | None:
    """The cached gallery in ``folder``, or None when it is missing, partial or corrupt."""
    try:
        manifest = json.loads((folder / "items.json").read_text())
        features_bytes = (folder / "features.npz").read_bytes()
        expected = (source.name, size, seed, source.fingerprint, FEATURES_VERSION)
        found = tuple(
            manifest[k] for k in ("name", "size", "seed", "fingerprint", "features_version")
        )
        if found != expected:
            return None
        if hashlib.sha256(features_bytes).hexdigest() != manifest["features_sha256"]:
            return None
        with np.load(io.BytesIO(features_bytes)) as archive:
            features = archive["features"]
        items = [GalleryItem.model_validate(item) for item in manifest["items"]]
        if features.dtype != np.float32 or features.shape[:2] != (size, 1 + len(WINDOWS)):
            return None
        return Gallery(source, size, seed, items, features)
    except Exception:  # anything unreadable is rebuilt, never fatal
        return None


_BUILD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def get_gallery(name: str, size: int, seed: int) -> Gallery:
    """The gallery of registered source ``name``, from the disk cache or built (and cached).

    Once per process and key; a cache that cannot be written (read-only disk) only costs the
    build again in the next process.
    """
    source = gallery_source(name)
    folder = cache_dir(source, size, seed)
    with _BUILD_LOCK:  # two threads asking at once build once
        gallery = _load(source, size, seed, folder)
        if gallery is None:
            gallery = build_gallery(source, size, seed)
            with contextlib.suppress(OSError):
                _save(gallery, folder)
    return gallery
