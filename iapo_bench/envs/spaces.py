"""Gymnasium spaces for text actions and variable-size images.

Gymnasium 1.4's stock spaces do not fit a chat env: ``Text`` rejects spaces and non-ASCII
unless given a charset, and a charset of every code point costs seconds and hundreds of MB
per instance; ``Box`` needs a fixed shape. These two small spaces fill the gap, with
``__eq__`` (``make_vec`` compares spaces) and seeded sampling.

- :class:`UnicodeText`: any ``str`` up to a length.
- :class:`ImageSpace`: any ``uint8 (H, W, 3)`` array within size bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.spaces import Space

__all__ = ["ImageSpace", "UnicodeText"]

# Sampled characters: printable ASCII, whitespace, action-tag fragments' characters and some
# non-ASCII, so that ``sample()`` exercises what models really emit.
_SAMPLE_ALPHABET = np.array(
    list(" \n\t{}[]<>\"':,./_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFXYZ")
    + list("éüßñ€°μ中文—…"),
)
_SAMPLE_FRAGMENTS = (
    "<answer>",
    "</answer>",
    "<tool_call>",
    "</tool_call>",
    '{"name": ',
    '"arguments": {',
    "}",
)


class UnicodeText(Space[str]):
    """Any Python ``str`` of at most ``max_length`` characters.

    >>> space = UnicodeText(max_length=8, seed=0)
    >>> "a b ü" in space, "x" * 9 in space
    (True, False)
    """

    def __init__(self, max_length: int = 100_000, seed: int | np.random.Generator | None = None):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.max_length = int(max_length)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Text cannot be flattened to a fixed-size array."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string mixing characters and action-tag fragments."""
        if mask is not None or probability is not None:
            raise NotImplementedError("UnicodeText.sample takes no mask or probability")
        length = int(self.np_random.integers(0, min(self.max_length, 200) + 1))
        pieces: list[str] = []
        total = 0
        while total < length:
            if self.np_random.random() < 0.15:
                piece = _SAMPLE_FRAGMENTS[int(self.np_random.integers(len(_SAMPLE_FRAGMENTS)))]
            else:
                piece = str(self.np_random.choice(_SAMPLE_ALPHABET))
            pieces.append(piece)
            total += len(piece)
        return "".join(pieces)[: self.max_length]

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is a ``str`` of allowed length."""
        return isinstance(x, str) and len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText(max_length={self.max_length})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnicodeText) and other.max_length == self.max_length

    def __hash__(self) -> int:
        return hash(("UnicodeText", self.max_length))


class ImageSpace(Space[np.ndarray]):
    """Any ``uint8`` RGB image of shape ``(H, W, 3)`` with sides within ``[min_side, max_side]``.

    >>> space = ImageSpace(max_side=64, seed=0)
    >>> space.sample().shape[2], np.zeros((4, 5, 3), np.uint8) in space
    (3, True)
    """

    def __init__(
        self,
        min_side: int = 1,
        max_side: int = 4096,
        seed: int | np.random.Generator | None = None,
    ):
        if not 1 <= min_side <= max_side:
            raise ValueError(f"need 1 <= min_side <= max_side, got {min_side}, {max_side}")
        self.min_side = int(min_side)
        self.max_side = int(max_side)
        super().__init__(shape=None, dtype=np.uint8, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Variable-size images cannot be flattened to a fixed-size array."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> np.ndarray:
        """A random image of random size (at most 64 pixels a side, to stay cheap)."""
        if mask is not None or probability is not None:
            raise NotImplementedError("ImageSpace.sample takes no mask or probability")
        high = min(self.max_side, max(self.min_side, 64))
        height, width = self.np_random.integers(self.min_side, high + 1, size=2)
        return self.np_random.integers(0, 256, size=(height, width, 3), dtype=np.uint8)

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is a ``uint8 (H, W, 3)`` array with sides in bounds."""
        return (
            isinstance(x, np.ndarray)
            and x.dtype == np.uint8
            and x.ndim == 3
            and x.shape[2] == 3
            and self.min_side <= x.shape[0] <= self.max_side
            and self.min_side <= x.shape[1] <= self.max_side
        )

    def __repr__(self) -> str:
        return f"ImageSpace(min_side={self.min_side}, max_side={self.max_side})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ImageSpace)
            and other.min_side == self.min_side
            and other.max_side == self.max_side
        )

    def __hash__(self) -> int:
        return hash(("ImageSpace", self.min_side, self.max_side))
