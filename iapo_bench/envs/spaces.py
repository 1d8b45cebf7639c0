"""Gymnasium spaces for text actions, variable-size images and the tool-use observation.

Gymnasium 1.4's stock spaces do not fit a chat env: ``Text`` rejects spaces and non-ASCII
unless given a charset, and a charset of every code point costs seconds and hundreds of MB
per instance; ``Box`` needs a fixed shape. These small spaces fill the gap, with ``__eq__``
(``make_vec`` compares spaces) and seeded sampling.

- :class:`UnicodeText`: any ``str`` up to a length.
- :class:`ImageSpace`: any ``uint8 (H, W, 3)`` array within size bounds.
- :class:`ToolUseObservation`: ``{"text": UnicodeText, "images": Sequence(ImageSpace)}`` with
  at most ``max_images`` images, so that an observation has a bounded size.

Because a :class:`ToolUseObservation` is bounded, gymnasium's ``AsyncVectorEnv`` can keep a
batch of them in shared memory (its default, ``shared_memory=True``): ``create_shared_memory``,
``read_from_shared_memory`` and ``write_to_shared_memory`` are registered for it. Each env
owns a slot of :class:`SharedObservations` sized for its largest observation, whose pages are
only backed once written; the vector env reads it through a :class:`SharedObservationsView`.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Mapping
from multiprocessing import heap
from types import ModuleType
from typing import Any, NoReturn

import numpy as np
from gymnasium import spaces
from gymnasium.spaces import Space
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

__all__ = [
    "ImageSpace",
    "SharedObservations",
    "SharedObservationsView",
    "ToolUseObservation",
    "UnicodeText",
]

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


class ToolUseObservation(spaces.Dict):
    """A tool-use env's observation: its transcript and at most ``max_images`` images.

    ``{"text": UnicodeText(max_text_length), "images": Sequence(ImageSpace(max_side))}``, a
    :class:`gymnasium.spaces.Dict` whose ``contains`` also bounds the number of images, so
    that every observation fits in a fixed-size slot of shared memory (see the module).

    >>> space = ToolUseObservation(max_text_length=20, max_images=2, max_side=8, seed=0)
    >>> image = np.zeros((4, 4, 3), np.uint8)
    >>> {"text": "<image>", "images": (image,)} in space
    True
    >>> {"text": "<image>" * 3, "images": (image,) * 3} in space  # three images: one too many
    False
    """

    def __init__(
        self,
        max_text_length: int,
        max_images: int,
        max_side: int = 4096,
        seed: int | np.random.Generator | None = None,
    ):
        if not isinstance(max_images, int) or max_images < 1:
            raise ValueError(f"max_images must be an int >= 1, got {max_images!r}")
        self.max_images = max_images
        super().__init__(
            {
                "text": UnicodeText(max_length=max_text_length),
                "images": spaces.Sequence(ImageSpace(max_side=max_side), stack=False),
            },
            seed=seed,
        )

    @property
    def max_text_length(self) -> int:
        """The longest transcript, in characters."""
        text = self.spaces["text"]
        assert isinstance(text, UnicodeText)
        return text.max_length

    @property
    def max_side(self) -> int:
        """The longest side of an image, in pixels."""
        images = self.spaces["images"]
        assert isinstance(images, spaces.Sequence) and isinstance(images.feature_space, ImageSpace)
        return images.feature_space.max_side

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is such a dict, with at most ``max_images`` images."""
        return super().contains(x) and len(x["images"]) <= self.max_images

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        """A random transcript and between 0 and ``max_images`` random images."""
        if mask is not None or probability is not None:
            raise NotImplementedError("ToolUseObservation.sample takes no mask or probability")
        count = int(self.np_random.integers(0, self.max_images + 1))
        values = {
            "text": self.spaces["text"].sample(),
            "images": self.spaces["images"].sample(mask=(count, None)),
        }
        return {key: values[key] for key in self.spaces}

    def __repr__(self) -> str:
        return (
            f"ToolUseObservation(max_text_length={self.max_text_length}, "
            f"max_images={self.max_images}, max_side={self.max_side})"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ToolUseObservation)
            and other.max_images == self.max_images
            and super().__eq__(other)
        )

    def __hash__(self) -> int:
        return hash(("ToolUseObservation", self.max_text_length, self.max_images, self.max_side))


class SharedObservations:
    """The latest observation of each of ``n`` envs, in one buffer shared between processes.

    Made by gymnasium's ``create_shared_memory`` for a :class:`ToolUseObservation`. Env ``i``
    owns slot ``i``: a header (text bytes, image count, each image's height and width), the
    transcript in UTF-8 (4 bytes a character at most) and the images packed one after the
    other, room for ``max_images`` images of ``max_side`` a side. The buffer comes from
    :mod:`multiprocessing`'s heap, as ``ctx.Array``'s does (a file in ``/dev/shm`` when it has
    room, else a temporary file, unlinked at once), but is not zero-filled as ``ctx.Array``
    is: the kernel backs a page only once it is written, so the capacity of an image of 4096
    pixels a side costs nothing until an env shows one. It pickles (``spawn`` and
    ``forkserver`` workers) by passing the file descriptor, as ``ctx.Array`` does.

    >>> space = ToolUseObservation(max_text_length=10, max_images=2, max_side=4)
    >>> shared = SharedObservations(space, n=2)
    >>> shared.write(1, {"text": "<image> ü", "images": (np.ones((2, 3, 3), np.uint8),)})
    >>> batch = shared.read()
    >>> batch["text"], [len(images) for images in batch["images"]], batch["images"][1][0].shape
    (('', '<image> ü'), [0, 1], (2, 3, 3))
    """

    def __init__(self, space: ToolUseObservation, n: int):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.space = space
        self.n = n
        self._header_items = 2 + 2 * space.max_images  # text bytes, image count, (h, w) each
        self._text_offset = 8 * self._header_items
        self._text_capacity = 4 * space.max_text_length  # UTF-8 (surrogatepass): <= 4 bytes
        self._images_offset = self._text_offset + self._text_capacity
        self._images_capacity = space.max_images * space.max_side**2 * 3
        used = self._images_offset + self._images_capacity
        self.slot_bytes = -(-used // mmap.PAGESIZE) * mmap.PAGESIZE  # no two envs share a page
        self._buffer = heap.BufferWrapper(n * self.slot_bytes)
        self._bytes: np.ndarray | None = None
        for index in range(n):  # the heap recycles blocks: no slot starts out empty
            self._slot(index)[: self._text_offset] = 0

    def __getstate__(self) -> dict[str, Any]:
        # The heap block pickles as its file descriptor; the array is mapped again on arrival.
        return {**self.__dict__, "_bytes": None}

    def _slot(self, index: int) -> np.ndarray:
        if not 0 <= index < self.n:
            raise IndexError(f"env index {index} out of range for {self.n} envs")
        if self._bytes is None:
            self._bytes = np.frombuffer(self._buffer.create_memoryview(), dtype=np.uint8)
        return self._bytes[index * self.slot_bytes : (index + 1) * self.slot_bytes]

    def write(self, index: int, observation: Mapping[str, Any]) -> None:
        """Store env ``index``'s observation; ``ValueError`` if it is not in the space."""
        slot = self._slot(index)
        if observation not in self.space:
            raise ValueError(
                f"the observation of env {index} is not in {self.space}, so it does not fit "
                f"its slot: {_describe(observation)}"
            )
        data = np.frombuffer(observation["text"].encode("utf-8", "surrogatepass"), np.uint8)
        slot[self._text_offset : self._text_offset + data.size] = data
        images = observation["images"]
        header = slot[: self._text_offset].view(np.int64)
        offset = self._images_offset
        for k, image in enumerate(images):
            height, width = image.shape[:2]
            slot[offset : offset + image.size] = image.reshape(-1)
            offset += image.size
            header[2 + 2 * k : 4 + 2 * k] = (height, width)
        header[:2] = (data.size, len(images))

    def read_text(self) -> tuple[str, ...]:
        """Every env's latest transcript, in env order."""
        texts = []
        for index in range(self.n):
            slot = self._slot(index)
            size = int(slot[: self._text_offset].view(np.int64)[0])
            raw = slot[self._text_offset : self._text_offset + size].tobytes()
            texts.append(raw.decode("utf-8", "surrogatepass"))
        return tuple(texts)

    def read_images(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """Every env's latest images, as fresh writable arrays, in env order."""
        batch = []
        for index in range(self.n):
            slot = self._slot(index)
            header = slot[: self._text_offset].view(np.int64)
            offset = self._images_offset
            images = []
            for k in range(int(header[1])):
                height, width = (int(side) for side in header[2 + 2 * k : 4 + 2 * k])
                size = height * width * 3
                images.append(slot[offset : offset + size].reshape(height, width, 3).copy())
                offset += size
            batch.append(tuple(images))
        return tuple(batch)

    def read(self) -> dict[str, Any]:
        """A snapshot of every env's latest observation, batched as gymnasium batches them.

        ``{"images": tuple per env of tuples of arrays, "text": tuple of str}``, in the
        space's key order: what ``AsyncVectorEnv(shared_memory=False)`` returns.
        """
        return {key: self.read_field(key) for key in self.space.spaces}

    def read_field(self, key: str) -> Any:
        """The batch of one key of the observation, ``"text"`` or ``"images"``."""
        if key == "text":
            return self.read_text()
        if key == "images":
            return self.read_images()
        raise KeyError(key)


class SharedObservationsView(dict):  # type: ignore[type-arg]
    """The live batch of observations in a :class:`SharedObservations`, read on every access.

    Gymnasium's ``AsyncVectorEnv`` builds its ``observations`` once, with
    ``read_from_shared_memory``, then returns ``deepcopy(observations)`` after every step and
    reset (``copy=True``, the default) or the object itself (``copy=False``). This view makes
    both right: every read (``view["text"]``, ``items()``, ``dict(view)``, ...) decodes the
    latest observations from shared memory afresh, and a deep copy, a copy or a pickle is a
    plain ``dict`` snapshot. It is a ``dict`` (so ``view in vector_env.observation_space``
    holds) whose own storage holds only the keys; it cannot be changed.
    """

    def __init__(self, shared: SharedObservations):
        super().__init__(dict.fromkeys(shared.space.spaces))
        self._shared = shared

    def snapshot(self) -> dict[str, Any]:
        """The observations as they are now, as a plain ``dict``."""
        return self._shared.read()

    def __getitem__(self, key: str) -> Any:
        if not dict.__contains__(self, key):
            raise KeyError(key)
        return self._shared.read_field(key)

    def get(self, key: str, default: Any = None) -> Any:
        """The latest batch of ``key``, or ``default`` for another key."""
        return self[key] if dict.__contains__(self, key) else default

    def __iter__(self) -> Iterator[str]:
        # Overriding __iter__ also sends dict(view), {**view} and update(view) through
        # keys() and __getitem__ instead of the stored placeholders.
        return dict.__iter__(self)

    def values(self) -> list[Any]:  # type: ignore[override]
        """The latest batches, in key order."""
        return list(self.snapshot().values())

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        """The latest ``(key, batch)`` pairs, in key order."""
        return list(self.snapshot().items())

    def copy(self) -> dict[str, Any]:
        """A plain ``dict`` snapshot."""
        return self.snapshot()

    def __copy__(self) -> dict[str, Any]:
        return self.snapshot()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return self.snapshot()  # every value read is a fresh object already

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self.snapshot(),))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SharedObservationsView):
            other = other.snapshot()
        return isinstance(other, Mapping) and _equal(self.snapshot(), dict(other))

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SharedObservationsView({self.snapshot()!r})"

    def __or__(self, other: Any) -> dict[str, Any]:
        return self.snapshot() | other

    def __ror__(self, other: Any) -> dict[str, Any]:
        return other | self.snapshot()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "a SharedObservationsView is read-only: it shows the envs' latest observations"
        )

    __setitem__ = __delitem__ = __ior__ = _read_only
    update = pop = popitem = clear = setdefault = _read_only  # type: ignore[assignment]


def _describe(observation: Any) -> str:
    """What an observation holds, in a few words (never its contents)."""
    if not isinstance(observation, Mapping):
        return f"a {type(observation).__name__}, not a dict"
    text, images = observation.get("text"), observation.get("images")
    parts = [f"keys {sorted(map(str, observation))}"]
    if isinstance(text, str):
        parts.append(f"text of {len(text)} characters")
    if isinstance(images, (tuple, list)):
        shapes = [getattr(image, "shape", type(image).__name__) for image in images[:8]]
        parts.append(f"{len(images)} images {shapes}")
    return ", ".join(parts)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@create_shared_memory.register(ToolUseObservation)
def _create_shared_observations(
    space: ToolUseObservation, n: int = 1, ctx: ModuleType | None = None
) -> SharedObservations:
    # The heap ctx.Array allocates from serves every context; ctx itself is not needed.
    return SharedObservations(space, n)


@read_from_shared_memory.register(ToolUseObservation)
def _read_shared_observations(
    space: ToolUseObservation, shared_memory: SharedObservations, n: int = 1
) -> SharedObservationsView:
    if shared_memory.n != n or shared_memory.space != space:
        raise ValueError(f"the shared memory holds {shared_memory.n} envs of {shared_memory.space}")
    return SharedObservationsView(shared_memory)


@write_to_shared_memory.register(ToolUseObservation)
def _write_shared_observation(
    space: ToolUseObservation,
    index: int,
    value: Mapping[str, Any],
    shared_memory: SharedObservations,
) -> None:
    shared_memory.write(index, value)
