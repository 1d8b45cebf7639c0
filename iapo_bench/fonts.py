"""Fonts from one pinned source: matplotlib's bundled DejaVu faces.

Task bytes must not depend on what fonts a machine has, so generators load fonts only
through :func:`font`, which reads the TTF files shipped inside the matplotlib wheel (a core
dependency). :func:`fonts_fingerprint` hashes those files for the env version hash.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from PIL import ImageFont

__all__ = ["FACES", "font", "font_path", "fonts_fingerprint", "text_bbox"]

FACES = {
    "sans": "DejaVuSans.ttf",
    "sans-bold": "DejaVuSans-Bold.ttf",
    "sans-oblique": "DejaVuSans-Oblique.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
    "mono-bold": "DejaVuSansMono-Bold.ttf",
}
"""The faces generators may use, by name."""


@functools.cache
def _font_dir() -> Path:
    # find_spec locates matplotlib without importing it (importing costs ~0.2 s).
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed; it ships the DejaVu fonts tasks use")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


def font_path(face: str) -> Path:
    """The TTF file of a face in :data:`FACES`."""
    if face not in FACES:
        raise ValueError(f"unknown font face {face!r}; choose from {sorted(FACES)}")
    return _font_dir() / FACES[face]


@functools.lru_cache(maxsize=256)
def font(face: str, size: int) -> ImageFont.FreeTypeFont:
    """A cached Pillow font of ``face`` at ``size`` pixels."""
    if size < 1:
        raise ValueError(f"font size must be >= 1, got {size}")
    return ImageFont.truetype(str(font_path(face)), size)


@functools.lru_cache(maxsize=1 << 16)
def text_bbox(face: str, size: int, text: str, anchor: str = "lt") -> tuple[int, int, int, int]:
    """The ink box of ``text`` drawn at the origin with ``anchor``.

    Cached: layouts measure the same strings many times.
    """
    return font(face, size).getbbox(text, anchor=anchor)


@functools.cache
def fonts_fingerprint() -> str:
    """SHA-256 over the bytes of every face, in name order."""
    digest = hashlib.sha256()
    for face in sorted(FACES):
        digest.update(face.encode())
        digest.update(font_path(face).read_bytes())
    return digest.hexdigest()
