"""Query images and descriptions: how a task shows the item it asks about.

Image queries re-render the target item and change it the way a photo of it might differ:

- ``exact`` (difficulty 0): a near copy (a few pixels of shift, a degree or two, a few % scale).
- ``colour`` (1): a hue, saturation and brightness shift, plus the near-copy jitter.
- ``angle`` (1): a rotation, shear and scale, as if photographed at a slant.
- ``crop`` (2): part of the item (half to four fifths of each side), enlarged.
- ``clutter`` (3): the item as a framed photo, smaller, in a busy scene of other shapes.

Description queries show a blank card and describe the item in words instead:

- ``description`` (2): every visible attribute the caption names, in other words.
- ``vague`` (3): as few attributes as still single the item out, loosely phrased.

Both are checked against the whole gallery's words: a description is only used when no
other item has all its words (a bag of words, so exactly what BM25 sees), so every task has
one right item. Coefficients of the geometric transforms are rounded to six decimals so
that the same key gives the same pixels on every machine.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from PIL import Image, ImageDraw

from iapo_bench.core import Box
from iapo_bench.envs.search.gallery import items_of
from iapo_bench.envs.search.items import (
    ITEM_SIDE,
    Fact,
    ItemSpec,
    PosterLook,
    ProductLook,
    SceneLook,
    facts,
)
from iapo_bench.envs.search.render import colour, draw_shape, shade
from iapo_bench.envs.search.vocabulary import BACKGROUNDS, COLOURS, SHAPES
from iapo_bench.tools.gallery import tokenize

__all__ = [
    "CLUTTER_SIDE",
    "IMAGE_MODES",
    "TEXT_MODES",
    "blank_card",
    "cluttered",
    "describe",
    "image_query",
    "matching_items",
]

IMAGE_MODES = ("exact", "colour", "angle", "crop", "clutter")
"""Query modes that show a picture of the item."""
TEXT_MODES = ("description", "vague")
"""Query modes that describe the item in words."""
CLUTTER_SIDE = 384
"""Side of a cluttered scene in pixels."""


def _border_colour(image: np.ndarray) -> tuple[int, int, int]:
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.int64)
    return tuple(int(v) for v in edge.sum(axis=0) // len(edge))  # type: ignore[return-value]


def _affine(
    image: np.ndarray, turn: float, shear: float, scale: float, shift: tuple[int, int]
) -> np.ndarray:
    """``image`` rotated by ``turn`` degrees, sheared, scaled about its centre and shifted."""
    height, width = image.shape[:2]
    c, s = math.cos(math.radians(turn)), math.sin(math.radians(turn))
    # Forward map: rotation x shear x scale; Pillow wants the inverse (output -> input).
    a, b = scale * c, scale * (c * shear - s)
    d, e = scale * s, scale * (s * shear + c)
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    cx, cy = width / 2 + shift[0], height / 2 + shift[1]
    coefficients = (
        ia,
        ib,
        width / 2 - ia * cx - ib * cy,
        id_,
        ie,
        height / 2 - id_ * cx - ie * cy,
    )
    data = tuple(round(v, 6) for v in coefficients)
    out = Image.fromarray(image).transform(
        (width, height),
        Image.Transform.AFFINE,
        data,
        resample=Image.Resampling.BICUBIC,
        fillcolor=_border_colour(image),
    )
    return np.asarray(out)


def _jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    turn = round(float(rng.uniform(-2, 2)) * strength, 2)
    scale = round(1 + float(rng.uniform(-0.04, 0.03)) * strength, 3)
    shift = (int(rng.integers(-6, 7) * strength), int(rng.integers(-6, 7) * strength))
    return _affine(image, turn, 0.0, scale, shift)


def _colour_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hue rotated by 5-10 steps of 256 (7-14 degrees), saturation and value rescaled."""
    hsv = np.asarray(Image.fromarray(image).convert("HSV")).astype(np.int32)
    hue = int(rng.integers(5, 11)) * int(rng.choice([-1, 1]))
    saturation = int(rng.integers(75, 116))
    value = int(rng.integers(78, 118))
    hsv[..., 0] = (hsv[..., 0] + hue) % 256
    hsv[..., 1] = np.minimum(hsv[..., 1] * saturation // 100, 255)
    hsv[..., 2] = np.minimum(hsv[..., 2] * value // 100, 255)
    shifted = Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")
    return np.asarray(shifted)


def _crop(image: np.ndarray, spec: ItemSpec, rng: np.random.Generator) -> np.ndarray:
    """Half to four fifths of each side; a product's crop keeps the middle of its object."""
    side = ITEM_SIDE * int(rng.integers(50, 81)) // 100
    lo_x = lo_y = 0
    hi_x = hi_y = ITEM_SIDE - side
    if isinstance(spec.look, ProductLook):
        x, y, size = spec.look.box
        cx, cy = x + size // 2, y + size // 2
        lo_x, hi_x = max(0, cx - side + 24), min(hi_x, cx - 24)
        lo_y, hi_y = max(0, cy - side + 24), min(hi_y, cy - 24)
    x0 = int(rng.integers(lo_x, max(lo_x, hi_x) + 1))
    y0 = int(rng.integers(lo_y, max(lo_y, hi_y) + 1))
    part = Image.fromarray(image[y0 : y0 + side, x0 : x0 + side])
    return np.asarray(part.resize((ITEM_SIDE, ITEM_SIDE), Image.Resampling.BICUBIC))


def cluttered(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """``image`` as a framed photo, smaller, in a busy scene.

    Returns the scene and the photo's box (frame included). The shapes are drawn first, so
    none hides any of the photo.
    """
    base = colour(list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))])
    scene = Image.new("RGB", (CLUTTER_SIDE, CLUTTER_SIDE), base)
    draw = ImageDraw.Draw(scene)
    step = int(rng.integers(16, 40))
    for i in range(0, CLUTTER_SIDE, step):  # a tablecloth of faint lines
        draw.line((i, 0, i, CLUTTER_SIDE), fill=shade(base, 88), width=2)
        draw.line((0, i, CLUTTER_SIDE, i), fill=shade(base, 88), width=2)
    names = list(COLOURS)
    for _ in range(int(rng.integers(16, 26))):
        radius = int(rng.integers(10, 40))
        draw_shape(
            draw,
            SHAPES[int(rng.integers(len(SHAPES)))],
            int(rng.integers(0, CLUTTER_SIDE)),
            int(rng.integers(0, CLUTTER_SIDE)),
            radius,
            int(rng.integers(0, 24)) * 15,
            colour(names[int(rng.integers(len(names)))]),
        )
    side = int(rng.integers(120, 171))
    frame = 6
    photo = Image.fromarray(image).resize((side, side), Image.Resampling.LANCZOS)
    x0 = int(rng.integers(0, CLUTTER_SIDE - side - 2 * frame + 1))
    y0 = int(rng.integers(0, CLUTTER_SIDE - side - 2 * frame + 1))
    box = Box(x0, y0, x0 + side + 2 * frame, y0 + side + 2 * frame)
    draw.rectangle(
        (box.x0, box.y0, box.x1 - 1, box.y1 - 1), fill=(252, 252, 250), outline=(60, 60, 60)
    )
    scene.paste(photo, (x0 + frame, y0 + frame))
    return np.asarray(scene), box


def image_query(
    image: np.ndarray, spec: ItemSpec, mode: str, rng: np.random.Generator
) -> tuple[np.ndarray, Box]:
    """The query image of ``mode`` made from the item's ``image``, and where the item is."""
    whole = Box(0, 0, ITEM_SIDE, ITEM_SIDE)
    if mode == "exact":
        return _jitter(image, rng, 1.0), whole
    if mode == "colour":
        return _colour_shift(_jitter(image, rng, 1.0), rng), whole
    if mode == "angle":
        turn = round(float(rng.uniform(8, 20)) * float(rng.choice([-1, 1])), 2)
        shear = round(float(rng.uniform(-0.2, 0.2)), 3)
        scale = round(float(rng.uniform(0.8, 0.95)), 3)
        shift = (int(rng.integers(-10, 11)), int(rng.integers(-10, 11)))
        return _affine(image, turn, shear, scale, shift), whole
    if mode == "crop":
        return _crop(image, spec, rng), whole
    if mode == "clutter":
        return cluttered(image, rng)
    raise ValueError(f"unknown image query mode {mode!r}; known: {IMAGE_MODES}")


@functools.cache
def blank_card() -> np.ndarray:
    """The image description tasks show: a plain card (every observation has an image)."""
    card = Image.new("RGB", (ITEM_SIDE, ITEM_SIDE), (238, 238, 236))
    ImageDraw.Draw(card).rectangle(
        (8, 8, ITEM_SIDE - 9, ITEM_SIDE - 9), outline=(200, 200, 196), width=2
    )
    pixels = np.asarray(card).copy()
    pixels.flags.writeable = False
    return pixels


# --- descriptions -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _postings(size: int, seed: int) -> dict[str, frozenset[int]]:
    """Which items' documents hold each word, for the gallery of ``size`` and ``seed``."""
    postings: dict[str, set[int]] = {}
    for index, item in enumerate(items_of(size, seed)):
        for token in set(tokenize(item.document())):
            postings.setdefault(token, set()).add(index)
    return {token: frozenset(found) for token, found in postings.items()}


def matching_items(text: str, size: int, seed: int) -> frozenset[int]:
    """The items whose documents hold every gallery word of ``text`` (all items if none).

    >>> from iapo_bench.envs.search.gallery import GALLERY_SEED, GALLERY_SIZE
    >>> len(matching_items("umbrella", GALLERY_SIZE, GALLERY_SEED)) < 100
    True
    """
    postings = _postings(size, seed)
    words = [t for t in set(tokenize(text)) if t in postings]
    if not words:
        return frozenset(range(size))
    return frozenset.intersection(*(postings[w] for w in words))


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _phrase(spec: ItemSpec, chosen: list[Fact], rng: np.random.Generator) -> str:
    """The chosen facts as one noun phrase, with the item's kind as its head."""
    names = {f.name: f.text for f in chosen}
    look = spec.look
    if isinstance(look, ProductLook):
        plain = names.get("pattern") == "plain"
        if "object" in names:
            adjectives = ["plain"] * plain + [names[k] for k in ("colour",) if k in names]
            text = _a(" ".join([*adjectives, names["object"]]))
        else:
            text = " ".join(["something", *(names[k] for k in ("colour",) if k in names)])
            text += ", plain," if plain else ""
        if "pattern" in names and not plain:
            text += f" {names['pattern']}"
        if "background" in names:
            where = ("on", "against", "in front of")[int(rng.integers(3))]
            text += f" {where} {_a(names['background'])}"
        return text.rstrip(",")
    if isinstance(look, SceneLook):
        parts = [_a(f.text) for f in chosen if f.name == "shape"]
        parts += [_a(f.text) for f in chosen if f.name == "object"]
        text = "a scene"
        if parts:
            text += " of " + (
                parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
            )
        if "background" in names:
            text += f" on {_a(names['background'])}"
        return text
    assert isinstance(look, PosterLook)
    text = "a poster"
    if "title" in names:
        text += f" {names['title']}"
    blocks = [f.text.split()[0] for f in chosen if f.name == "block"]
    if blocks:
        text += " with " + " and ".join(blocks) + " blocks"
    if "layout" in names:
        text += f" in {_a(names['layout'])}"
    if "background" in names:
        text += f" {names['background']}"
    return text


def describe(
    spec: ItemSpec, size: int, seed: int, rng: np.random.Generator, vague: bool
) -> str | None:
    """A description of item ``spec`` that no other item of its gallery matches, or None.

    Full descriptions use every fact; vague ones the fewest facts that still single the
    item out, preferring weak facts (a poster's title only as a last resort).
    """
    all_facts = list(facts(spec))
    if not vague:
        phrase = _phrase(spec, all_facts, rng)
        return phrase if matching_items(phrase, size, seed) == {spec.index} else None
    weak = [f for f in all_facts if not f.strong]
    for pool in (weak, all_facts):
        for count in range(1, len(pool) + 1):
            subsets = list(itertools.combinations(pool, count))
            for pick in rng.permutation(len(subsets)):
                chosen = [f for f in all_facts if f in subsets[int(pick)]]
                phrase = _phrase(spec, chosen, rng)
                if matching_items(phrase, size, seed) == {spec.index}:
                    return phrase
    return None
