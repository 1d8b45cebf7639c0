"""Gallery item specifications: what each item looks like and what its metadata says.

An item is drawn from a generator seeded by ``(gallery seed, index)``: its kind (product 50%,
scene 25%, poster 25%), its look (a :class:`ProductLook`, :class:`SceneLook` or
:class:`PosterLook`, plain data in integer pixels) and its metadata (title, price, maker,
year). No two items share a visual signature (the attributes a caption names), so an image
or a full description picks out one item; a draw that repeats an earlier signature is drawn
again. That makes item ``i`` depend on items ``0 .. i - 1``, so :func:`item_specs` builds
the list in order, once per process, and a larger gallery of the same seed starts with the
smaller one.

- :func:`item_specs`: the specs of a gallery (cached).
- :func:`gallery_item`: the :class:`~iapo_bench.tools.gallery.GalleryItem` metadata of a spec.
- :class:`Fact` and :func:`facts`: the visible attributes of an item as description phrases.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Union

import numpy as np

from iapo_bench.envs.search.vocabulary import (
    ACCENTS,
    BACKGROUNDS,
    CATEGORIES,
    COLOURS,
    LAYOUTS,
    MAKERS,
    MODEL_NAMES,
    OBJECTS,
    PATTERN_NOUNS,
    PATTERNS,
    POSTER_WORDS,
    SCENE_ADJECTIVES,
    SCENE_NOUNS,
    SHAPES,
    STYLES,
    TEXTURES,
    THEMES,
)
from iapo_bench.tools.gallery import GalleryItem, item_id

__all__ = [
    "ITEM_SIDE",
    "Fact",
    "ItemSpec",
    "PosterLook",
    "ProductLook",
    "SceneLook",
    "Shape",
    "facts",
    "gallery_item",
    "item_specs",
]

ITEM_SIDE = 256
"""Items are square images of this many pixels a side."""

_SALT = 0x6A11E  # separates item draws from task draws of the same seeds


@dataclasses.dataclass(frozen=True, slots=True)
class ProductLook:
    """One object in a colour and pattern, on a plain background."""

    object: str
    colour: str
    pattern: str
    accent: str
    """The pattern's colour, '' when plain."""
    background: str
    box: tuple[int, int, int]
    """Where the object is drawn: ``(x, y, side)`` in pixels."""
    floor: int
    """Row where a darker floor begins, or 0 for none."""
    step: int
    """Pattern period in pixels."""
    angle: int
    """Stripe direction in degrees: 0, 45, 90 or 135."""

    def signature(self) -> tuple[object, ...]:
        """The attributes a caption names."""
        return ("product", self.object, self.colour, self.pattern, self.accent, self.background)


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """One shape of a scene."""

    shape: str
    colour: str
    x: int
    y: int
    radius: int
    turn: int
    """Rotation in degrees."""


@dataclasses.dataclass(frozen=True, slots=True)
class SceneLook:
    """Several shapes (and perhaps one small object) on a textured background."""

    background: str
    texture: str
    shapes: tuple[Shape, ...]
    object: str
    """A small product object among the shapes, or ''."""
    object_colour: str
    object_box: tuple[int, int, int]
    step: int
    """Texture period in pixels."""
    noise: int
    """Seed of the speckles."""

    def signature(self) -> tuple[object, ...]:
        """The attributes a caption names."""
        shapes = tuple(sorted((s.shape, s.colour) for s in self.shapes))
        return ("scene", self.background, self.texture, shapes, self.object, self.object_colour)


@dataclasses.dataclass(frozen=True, slots=True)
class PosterLook:
    """Big colour blocks and a title in large letters."""

    background: str
    blocks: tuple[str, ...]
    layout: str
    title: str
    face: str
    title_at: str
    """'top' or 'bottom'."""
    ratio: int
    """Where the layout splits, in percent."""

    def signature(self) -> tuple[object, ...]:
        """The title: posters are told apart by it."""
        return ("poster", self.title)


Look = Union[ProductLook, SceneLook, PosterLook]  # noqa: UP007  (a runtime alias)


@dataclasses.dataclass(frozen=True, slots=True)
class ItemSpec:
    """Everything that makes one item: its look and its metadata."""

    index: int
    look: Look
    title: str
    price: str
    maker: str
    year: int
    extra_tags: tuple[str, ...]
    """Tags the image does not show (category and style, or theme)."""

    @property
    def kind(self) -> str:
        """'product', 'scene' or 'poster'."""
        return str(self.look.signature()[0])

    @property
    def id(self) -> str:
        """The item's id."""
        return item_id(self.index)


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _product(rng: np.random.Generator) -> ProductLook:
    pattern = _pick(rng, PATTERNS)
    side = int(rng.integers(130, 200))
    return ProductLook(
        object=_pick(rng, OBJECTS),
        colour=_pick(rng, list(COLOURS)),
        pattern=pattern,
        accent="" if pattern == "plain" else _pick(rng, list(ACCENTS)),
        background=_pick(rng, list(BACKGROUNDS)),
        box=(int(rng.integers(8, 248 - side)), int(rng.integers(8, 248 - side)), side),
        floor=int(rng.integers(150, 230)) if rng.random() < 0.6 else 0,
        step=int(rng.integers(10, 24)),
        angle=int(rng.choice([0, 45, 90, 135])),
    )


def _scene(rng: np.random.Generator) -> SceneLook:
    count = int(rng.integers(3, 6))
    kinds = rng.choice(len(SHAPES), size=count, replace=False)
    shapes = []
    for k in kinds:
        radius = int(rng.integers(20, 46))
        shapes.append(
            Shape(
                shape=SHAPES[int(k)],
                colour=_pick(rng, list(COLOURS)),
                x=int(rng.integers(radius, 256 - radius)),
                y=int(rng.integers(radius, 256 - radius)),
                radius=radius,
                turn=int(rng.integers(0, 24)) * 15,
            )
        )
    has_object = rng.random() < 0.4
    side = int(rng.integers(64, 100))
    return SceneLook(
        background=_pick(rng, list(BACKGROUNDS)),
        texture=_pick(rng, TEXTURES),
        shapes=tuple(shapes),
        object=_pick(rng, OBJECTS) if has_object else "",
        object_colour=_pick(rng, list(COLOURS)) if has_object else "",
        object_box=(int(rng.integers(0, 256 - side)), int(rng.integers(0, 256 - side)), side),
        step=int(rng.integers(12, 32)),
        noise=int(rng.integers(1 << 30)),
    )


def _poster(rng: np.random.Generator) -> PosterLook:
    background = _pick(rng, list(COLOURS))
    others = [c for c in (*COLOURS, *ACCENTS) if c != background]
    blocks = rng.choice(len(others), size=int(rng.integers(1, 3)), replace=False)
    words = rng.choice(len(POSTER_WORDS), size=2, replace=False)
    return PosterLook(
        background=background,
        blocks=tuple(others[int(i)] for i in blocks),
        layout=_pick(rng, LAYOUTS),
        title=" ".join(POSTER_WORDS[int(i)].title() for i in words),
        face=_pick(rng, ("sans-bold", "serif-bold")),
        title_at=_pick(rng, ("top", "bottom")),
        ratio=int(rng.integers(30, 71)),
    )


def _price(rng: np.random.Generator, low: int, high: int) -> str:
    dollars = int(rng.integers(low, high))
    cents = int(rng.choice([99, 49, 0, 95, 50]))
    return f"{dollars}.{cents:02d}"


def _spec(index: int, rng: np.random.Generator) -> ItemSpec:
    draw = rng.random()
    maker = _pick(rng, MAKERS)
    year = int(rng.integers(1995, 2026))
    if draw < 0.5:
        look: Look = _product(rng)
        style = _pick(rng, STYLES)
        name = _pick(rng, MODEL_NAMES)
        title = f"{style.title()} {look.object.title()} {name.title()}"
        price = _price(rng, 4, 400)
        extra: tuple[str, ...] = (CATEGORIES[look.object], style)
    elif draw < 0.75:
        look = _scene(rng)
        title = f"{_pick(rng, SCENE_ADJECTIVES).title()} {_pick(rng, SCENE_NOUNS).title()}"
        price = _price(rng, 12, 180)
        extra = ("print",)
    else:
        look = _poster(rng)
        title = look.title
        price = _price(rng, 6, 80)
        extra = (_pick(rng, THEMES),)
    return ItemSpec(index, look, title, price, maker, year, extra)


@functools.lru_cache(maxsize=8)
def item_specs(size: int, seed: int) -> tuple[ItemSpec, ...]:
    """The specs of items ``0 .. size - 1`` of the gallery of ``seed``, no signature twice.

    >>> specs = item_specs(20, 7)
    >>> specs[:5] == item_specs(5, 7), len({s.look.signature() for s in specs})
    (True, 20)
    """
    specs: list[ItemSpec] = []
    seen: set[tuple[object, ...]] = set()
    for index in range(size):
        rng = np.random.default_rng([seed, index, _SALT])
        for _ in range(1000):
            spec = _spec(index, rng)
            if spec.look.signature() not in seen:
                break
        else:  # pragma: no cover  (the signature space is far larger than any gallery)
            raise RuntimeError(f"no unused look for item {index} of gallery seed {seed}")
        seen.add(spec.look.signature())
        specs.append(spec)
    return tuple(specs)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _caption(look: Look) -> str:
    if isinstance(look, ProductLook):
        if look.pattern == "plain":
            thing = f"a plain {look.colour} {look.object}"
        else:
            noun = PATTERN_NOUNS[look.pattern]
            thing = f"{_article(look.colour)} {look.colour} {look.object} with {look.accent} {noun}"
        return f"{thing.capitalize()} on {_article(look.background)} {look.background} background."
    if isinstance(look, SceneLook):
        parts = [f"{_article(s.colour)} {s.colour} {s.shape}" for s in look.shapes]
        if look.object:
            parts.append(f"a small {look.object_colour} {look.object}")
        return (
            f"A scene of {_join(parts)} on {_article(look.background)} {look.background} "
            f"{look.texture} background."
        )
    blocks = _join(list(look.blocks))
    return (
        f"A poster titled '{look.title}' with {blocks} blocks in a {look.layout} layout "
        f"on {look.background}."
    )


def _tags(spec: ItemSpec) -> tuple[str, ...]:
    look = spec.look
    if isinstance(look, ProductLook):
        words = [
            "product",
            look.object,
            look.colour,
            look.pattern,
            look.accent,
            look.background,
            *spec.extra_tags,
        ]
    elif isinstance(look, SceneLook):
        words = ["scene", *(s.shape for s in look.shapes), *(s.colour for s in look.shapes)]
        words += [look.background, look.texture, look.object, look.object_colour]
        words += list(spec.extra_tags)
    else:
        words = ["poster", *spec.extra_tags, look.layout, look.background, *look.blocks]
        words += look.title.lower().split()
    return tuple(dict.fromkeys(w for w in words if w))


def gallery_item(spec: ItemSpec) -> GalleryItem:
    """The metadata of an item, as ``open_item`` shows it and BM25 indexes it."""
    return GalleryItem(
        id=spec.id,
        kind=spec.kind,
        title=spec.title,
        price=spec.price,
        maker=spec.maker,
        year=spec.year,
        tags=_tags(spec),
        caption=_caption(spec.look),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Fact:
    """One visible attribute of an item, as a description phrase."""

    name: str
    """What it says: 'object', 'colour', 'pattern', 'background', 'shape', 'title', ..."""
    text: str
    """The phrase, e.g. 'with gold stripes'."""
    strong: bool = False
    """Whether it nearly names the item on its own (a poster's title)."""


def facts(spec: ItemSpec) -> tuple[Fact, ...]:
    """The visible attributes of an item, in caption order; descriptions pick from them."""
    look = spec.look
    if isinstance(look, ProductLook):
        pattern = (
            "plain"
            if look.pattern == "plain"
            else f"with {look.accent} {PATTERN_NOUNS[look.pattern]}"
        )
        out = [Fact("object", look.object), Fact("colour", look.colour), Fact("pattern", pattern)]
        out.append(Fact("background", f"{look.background} background"))
        return tuple(out)
    if isinstance(look, SceneLook):
        out = [Fact("shape", f"{s.colour} {s.shape}") for s in look.shapes]
        if look.object:
            out.append(Fact("object", f"small {look.object_colour} {look.object}"))
        out.append(Fact("background", f"{look.background} {look.texture} background"))
        return tuple(out)
    out = [Fact("title", f"titled '{look.title}'", strong=True)]
    out += [Fact("block", f"{colour} blocks") for colour in look.blocks]
    out.append(Fact("layout", f"{look.layout} layout"))
    out.append(Fact("background", f"on {look.background}"))
    return tuple(out)
