"""A local image gallery and its search index: BM25 over text, colour/shape features over pixels.

The data structures the search tools read; what the items look like is up to a
:class:`GallerySource`, which a task family registers (tools never import envs: the family
installs its source here, and a task names it in ``task.data["gallery"]``).

- :class:`GalleryItem`: one item's metadata (id, kind, title, price, maker, year, tags, caption).
- :class:`GallerySource`: what makes a gallery: items' metadata and each item's full image.
- :func:`register_gallery_source` / :func:`gallery_source`: the registry of sources by name.
- :func:`tokenize`, :class:`BM25Index`: Okapi BM25 (k1 = 1.5, b = 0.75) over numpy postings.
- :func:`image_features`, :func:`item_features`, :func:`similarity`: feature vectors computed
  from pixels with numpy (colour, layout, gradient orientation, edge density; no model, no
  download). Each item is indexed by its whole image and five sub-windows of two thirds of
  its side, so a crop of an item finds it too.
- :class:`Gallery`: items, their feature rows and text index, with text and image search.
- :func:`build_gallery`, :func:`get_gallery`, :func:`cache_root`, :func:`cache_dir`: build
  one, or load it from the disk cache (building and caching it on a miss), once per process.

The cache holds each item's metadata (JSON) and feature rows (``.npz``), never pixels: an
item's full image is re-rendered from its source on demand (about a millisecond), which keeps
a 10,000-item cache near 35 MB and lets ``open_item`` show the image at full resolution. The
BM25 index is rebuilt from the metadata on load (tens of milliseconds). A cache folder is
keyed by the source's fingerprint and this module's code, so an edited generator or feature
never reads stale rows. Both files are written atomically (temporary file, then
``os.replace``), the JSON last, and a folder that fails any check on load is rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.cache import cache_root

__all__ = [
    "FEATURES_VERSION",
    "FEATURE_SIDE",
    "STOPWORDS",
    "WINDOWS",
    "WINDOW_DISCOUNT",
    "BM25Index",
    "Gallery",
    "GalleryItem",
    "GallerySource",
    "Hit",
    "build_gallery",
    "cache_dir",
    "cache_root",
    "gallery_source",
    "get_gallery",
    "image_features",
    "item_features",
    "item_id",
    "register_gallery_source",
    "similarity",
    "tokenize",
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


# --- text: BM25 -------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "is", "it"}
    | {"its", "of", "on", "or", "that", "the", "this", "to", "with"}
)
"""Words too common to rank by; dropped from documents and queries alike."""


def tokenize(text: str) -> list[str]:
    """Lower-cased alphanumeric runs, without :data:`STOPWORDS`.

    >>> tokenize("A red Mug, with white stripes!")
    ['red', 'mug', 'white', 'stripes']
    """
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class BM25Index:
    """Okapi BM25 over a fixed corpus, with one numpy postings list per term.

    ``score(d, q) = sum over distinct query terms t in d of
    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avg_len))`` with
    ``idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5))`` (always positive). A query costs one
    vectorised update per query term, whatever the corpus size.

    >>> index = BM25Index(["red mug", "blue mug", "red red lamp"])
    >>> [round(float(s), 3) for s in index.scores("red mug")]
    [1.005, 0.502, 0.615]
    """

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.size = len(documents)
        counts: dict[str, dict[int, int]] = {}
        lengths = np.zeros(self.size, dtype=np.float64)
        for doc, text in enumerate(documents):
            tokens = tokenize(text)
            lengths[doc] = len(tokens)
            for token in tokens:
                postings = counts.setdefault(token, {})
                postings[doc] = postings.get(doc, 0) + 1
        self.vocabulary: dict[str, int] = {t: i for i, t in enumerate(sorted(counts))}
        # CSR layout: term i's postings are docs[starts[i]:starts[i + 1]] with their tf.
        self._starts = np.zeros(len(self.vocabulary) + 1, dtype=np.int64)
        docs, tfs = [], []
        for i, term in enumerate(self.vocabulary):
            postings = counts[term]
            docs.extend(postings)
            tfs.extend(postings.values())
            self._starts[i + 1] = self._starts[i] + len(postings)
        self._docs = np.asarray(docs, dtype=np.int64)
        self._tfs = np.asarray(tfs, dtype=np.float64)
        document_frequency = np.diff(self._starts).astype(np.float64)
        self._idf = np.log1p((self.size - document_frequency + 0.5) / (document_frequency + 0.5))
        average = lengths.mean() if self.size else 1.0
        self._norm = k1 * (1 - b + b * lengths / max(average, 1e-9))

    def known_terms(self, query: str) -> list[str]:
        """The distinct query terms that occur in the corpus, in query order."""
        return list(dict.fromkeys(t for t in tokenize(query) if t in self.vocabulary))

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (float64, one per document)."""
        scores = np.zeros(self.size, dtype=np.float64)
        for term in self.known_terms(query):
            i = self.vocabulary[term]
            docs = self._docs[self._starts[i] : self._starts[i + 1]]
            tf = self._tfs[self._starts[i] : self._starts[i + 1]]
            # A term's postings name each document once, so fancy-index += is exact.
            scores[docs] += self._idf[i] * tf * (self.k1 + 1) / (tf + self._norm[docs])
        return scores


# --- pixels: image features -------------------------------------------------------------------

FEATURES_VERSION = 1
"""Bumped whenever the image features change (it is part of the cache key)."""
FEATURE_SIDE = 60
"""Images are reduced to this many pixels a side before features are computed."""
_CELL = 5  # pixels of a statistics cell: a 12 x 12 grid of cells
_CELLS = FEATURE_SIDE // _CELL
_WINDOW = 8  # cells a side of a sub-window (two thirds of the image)
WINDOWS: tuple[tuple[int, int], ...] = ((0, 0), (4, 0), (0, 4), (4, 4), (2, 2))
"""Offsets (in cells) of the sub-windows each item is also indexed by, so crops find it."""
WINDOW_DISCOUNT = 0.97
"""A sub-window's similarity counts this much of a whole image's (whole matches win ties)."""
_HUE_BINS = 12
_COLOUR_BINS = _HUE_BINS * 2 + 4
# Weights of the feature blocks (each block is unit length before weighting), chosen on
# training-split queries of every mode.
_WEIGHTS = {"colour": 1.0, "layout": 0.5, "edges": 0.8, "density": 0.4}


def _soft(values: np.ndarray, centres: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Linear soft binning: the lower centre's index and the upper centre's weight."""
    c = np.asarray(centres, dtype=np.float32)
    low = np.clip(np.searchsorted(c, values, side="right") - 1, 0, len(c) - 2)
    weight = np.clip((values - c[low]) / (c[low + 1] - c[low]), 0, 1)
    return low, weight


@functools.cache
def _cell_of_pixel() -> np.ndarray:
    ys, xs = np.indices((FEATURE_SIDE, FEATURE_SIDE))
    return ((ys // _CELL) * _CELLS + xs // _CELL).ravel()


def _histogram(
    base: np.ndarray, bins: int, parts: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Per-cell weighted histograms: ``parts`` are (bin index, weight) per pixel."""
    n = base.shape[0]
    total = n * _CELLS * _CELLS * bins
    out = np.zeros(total)
    for index, weight in parts:
        out += np.bincount((base * bins + index).ravel(), weights=weight.ravel(), minlength=total)
    return out.reshape(n, _CELLS, _CELLS, bins)


def _cell_statistics(rgb: np.ndarray, hsv: np.ndarray) -> dict[str, np.ndarray]:
    """Additive statistics of each cell of ``(n, side, side, 3)`` images.

    Any window's features are then sums over its cells:

    - colour: hue (12 bins) x value (2 bins) of coloured pixels, all soft-binned, and four
      soft brightness bins of grey pixels; a pixel is coloured by degrees (saturation 30 to
      80, value 25 to 55), so a colour shift moves mass gradually, never across a hard edge.
    - rgb: summed colour, for the layout.
    - orientation: gradient orientation (8 soft bins, unsigned) weighted by magnitude.
    - edges: how many pixels have a strong gradient.
    """
    n, pixels = rgb.shape[0], FEATURE_SIDE * FEATURE_SIDE
    base = np.arange(n)[:, None] * (_CELLS * _CELLS) + _cell_of_pixel()[None, :]
    h, s, v = (hsv[..., i].reshape(n, pixels).astype(np.float32) for i in range(3))
    chroma = np.clip((s - 30) / 50, 0, 1) * np.clip((v - 25) / 30, 0, 1)
    position = h * (_HUE_BINS / 256.0) - 0.5
    low = np.floor(position)
    up = position - low
    low = low.astype(np.int64) % _HUE_BINS
    high = (low + 1) % _HUE_BINS
    vlow, vup = _soft(v, (70.0, 200.0))
    glow, gup = _soft(v, (32.0, 96.0, 160.0, 224.0))
    grey = _HUE_BINS * 2
    colour = _histogram(
        base,
        _COLOUR_BINS,
        [
            (low * 2 + vlow, chroma * (1 - up) * (1 - vup)),
            (low * 2 + vlow + 1, chroma * (1 - up) * vup),
            (high * 2 + vlow, chroma * up * (1 - vup)),
            (high * 2 + vlow + 1, chroma * up * vup),
            (grey + glow, (1 - chroma) * (1 - gup)),
            (grey + glow + 1, (1 - chroma) * gup),
        ],
    )
    scaled = rgb.astype(np.float32) * (1 / 255.0)
    sums = scaled.reshape(n, _CELLS, _CELL, _CELLS, _CELL, 3).sum(axis=(2, 4))
    lum = scaled.mean(axis=3)
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, :, 1:-1] = lum[:, :, 2:] - lum[:, :, :-2]
    gy[:, 1:-1, :] = lum[:, 2:, :] - lum[:, :-2, :]
    magnitude = np.sqrt(gx * gx + gy * gy).reshape(n, pixels)
    angle = (np.arctan2(gy, gx).reshape(n, pixels) % np.pi) * (8 / np.pi) - 0.5
    alow = np.floor(angle)
    aup = angle - alow
    alow = alow.astype(np.int64) % 8
    orientation = _histogram(
        base, 8, [(alow, magnitude * (1 - aup)), ((alow + 1) % 8, magnitude * aup)]
    )
    strong = (magnitude > 0.08).reshape(n, _CELLS, _CELL, _CELLS, _CELL)
    edges = strong.sum(axis=(2, 4)).astype(np.float64)[..., None]
    return {"colour": colour, "rgb": sums, "orientation": orientation, "edges": edges}


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    return x / np.where(norm > 0, norm, 1)


def _pool(cells: np.ndarray, grid: int) -> np.ndarray:
    """``(n, c, c, k)`` cell sums pooled into a ``grid x grid`` grid: ``(n, grid, grid, k)``."""
    n, c, _, k = cells.shape
    return cells.reshape(n, grid, c // grid, grid, c // grid, k).sum(axis=(2, 4))


def _window_features(stats: dict[str, np.ndarray], x: int, y: int, size: int) -> np.ndarray:
    """Unit feature rows ``(n, D)`` of the window of ``size`` cells at cell ``(x, y)``."""
    part = {k: a[:, y : y + size, x : x + size] for k, a in stats.items()}
    n = part["colour"].shape[0]
    colour = part["colour"].sum(axis=(1, 2))
    colour = np.sqrt(colour / np.maximum(colour.sum(axis=1, keepdims=True), 1e-9))
    mean = _pool(part["rgb"], 4).reshape(n, 16, 3)
    r, g, b = mean[..., 0], mean[..., 1], mean[..., 2]
    opponent = np.stack([(r + g + b) / 3, (r - g) / 2, (r + g) / 4 - b / 2], axis=2)
    # Centred on the window's mean colour: where things are, not what colour overall.
    layout = (opponent - opponent.mean(axis=1, keepdims=True)).reshape(n, 48)
    orientation = part["orientation"]
    whole = orientation.sum(axis=(1, 2))
    quarters = _pool(orientation, 2).reshape(n, 32)
    edges = np.sqrt(np.concatenate([whole, quarters], axis=1))
    density = _pool(part["edges"], 4).reshape(n, 16)
    blocks = {"colour": colour, "layout": layout, "edges": edges, "density": density}
    weighted = [w * _unit_rows(blocks[name]) for name, w in _WEIGHTS.items()]
    return _unit_rows(np.concatenate(weighted, axis=1)).astype(np.float32)


def _reduced(images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    rgb, hsv = [], []
    for image in images:
        small = Image.fromarray(np.ascontiguousarray(image)).resize(
            (FEATURE_SIDE, FEATURE_SIDE), Image.Resampling.BOX
        )
        rgb.append(np.asarray(small))
        hsv.append(np.asarray(small.convert("HSV")))
    return _cell_statistics(np.stack(rgb), np.stack(hsv))


def image_features(image: np.ndarray) -> np.ndarray:
    """The feature vector of an RGB image (float32, unit length), for cosine similarity.

    Four blocks, each unit length, then weighted: a hue/value colour histogram (soft bins,
    so a colour shift moves mass gradually); a 4x4 grid of mean colours in an opponent
    space, centred on the image's mean (layout); gradient-orientation histograms of the
    whole image and its quarters (shape; soft bins, so small rotations move mass gradually);
    and the edge density of a 4x4 grid. Computed on a 60x60 reduction; no model.

    >>> vector = image_features(np.full((32, 48, 3), 128, dtype=np.uint8))
    >>> vector.dtype, vector.shape == image_features(np.zeros((9, 9, 3), np.uint8)).shape
    (dtype('float32'), True)
    """
    return _window_features(_reduced([image]), 0, 0, _CELLS)[0]


def item_features(images: Sequence[np.ndarray]) -> np.ndarray:
    """The index rows of gallery images, ``(n, 1 + len(WINDOWS), D)``.

    Row 0 is the whole image (equal to :func:`image_features`), then each sub-window of
    :data:`WINDOWS`.
    """
    stats = _reduced(images)
    rows = [_window_features(stats, 0, 0, _CELLS)]
    rows += [_window_features(stats, x, y, _WINDOW) for x, y in WINDOWS]
    return np.stack(rows, axis=1)


def similarity(features: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each item's similarity to a query vector.

    The best of its whole image's cosine and :data:`WINDOW_DISCOUNT` times its best
    sub-window's.
    """
    scores = features @ query
    return np.maximum(scores[:, 0], WINDOW_DISCOUNT * scores[:, 1:].max(axis=1))


# --- the gallery ------------------------------------------------------------------------------


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
    # This module's own code is in the key too: edited features never read stale rows.
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    key = f"{source.fingerprint}/features-{FEATURES_VERSION}/{code}"
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
