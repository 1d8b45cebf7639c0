"""Image search features computed from pixels with numpy: no model, no download.

Colour (soft hue/value histograms), layout (a coarse colour grid), gradient orientation and
edge density, each block unit length before weighting. Each item is indexed by its whole
image and five sub-windows of two thirds of its side (:data:`WINDOWS`), so a crop of an item
finds it too.

- :func:`image_features`: the vector of one query image.
- :func:`item_features`: the index rows of gallery images, whole and windowed.
- :func:`similarity`: cosine similarity of every item to a query, best window per item.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image

__all__ = [
    "FEATURES_VERSION",
    "FEATURE_SIDE",
    "WINDOWS",
    "WINDOW_DISCOUNT",
    "image_features",
    "item_features",
    "similarity",
]

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
