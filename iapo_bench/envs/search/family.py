"""ToolUse-ImageSearch-v0: find a gallery item from a photo or a description; read its metadata.

A task picks a target item of the family's gallery (:data:`~iapo_bench.envs.search.gallery.
GALLERY_SIZE` items of seed :data:`~iapo_bench.envs.search.gallery.GALLERY_SEED`), a query
mode and a question about a fact that only the item's metadata holds: its price, its maker,
its release year or its gallery id. None of these is ever drawn on any image, and none is
in the question (descriptions name only what can be seen), so the answer is not in the
first observation at all: the agent must search (``search_images``) and open the item
(``open_item``).

Query modes by difficulty (see :mod:`~iapo_bench.envs.search.queries`):

- 0: ``exact``, a near copy of the item's image.
- 1: ``colour`` (a colour shift) or ``angle`` (rotated, sheared, scaled).
- 2: ``crop`` (part of the item, enlarged) or ``description`` (every visible attribute, in
  words, with a blank card as the image).
- 3: ``clutter`` (the item as a small framed photo in a busy 384x384 scene) or ``vague``
  (as few attributes as still single the item out).

Generating a task never builds the gallery's index: it renders the target alone from the
item specs (cached per process); only the tools need the built gallery.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iapo_bench.core import AnswerType, Element, Split, Task
from iapo_bench.envs.family import TaskFamily
from iapo_bench.envs.search.gallery import GALLERY_NAME, GALLERY_SEED, GALLERY_SIZE, items_of
from iapo_bench.envs.search.items import PosterLook, item_specs
from iapo_bench.envs.search.queries import blank_card, describe, image_query
from iapo_bench.envs.search.render import render_item
from iapo_bench.tools.base import Tool
from iapo_bench.tools.search import SEARCH_TOOLS

__all__ = ["MODES", "QUESTIONS", "SearchFamily"]

MODES: dict[int, tuple[str, ...]] = {
    0: ("exact",),
    1: ("colour", "angle"),
    2: ("crop", "description"),
    3: ("clutter", "vague"),
}
"""The query modes of each difficulty (one is drawn per task)."""

QUESTIONS: dict[str, tuple[str, AnswerType]] = {
    "price": ("What is its price in US dollars? Answer with the number only.", AnswerType.NUMBER),
    "maker": ("Which company makes it? Answer with the maker's name.", AnswerType.TEXT),
    "year": ("In which year was it released? Answer with the year.", AnswerType.NUMBER),
    "id": ("What is its gallery id? Answer with the id as the gallery writes it.", AnswerType.ID),
}
"""Question kinds: the question asked and how its answer is compared."""

_INTROS = {
    "exact": "This photo shows an item from the gallery.",
    "colour": "This photo shows an item from the gallery; the camera got its colours a little "
    "wrong.",
    "angle": "This photo shows an item from the gallery, taken at a slant.",
    "crop": "This photo shows part of an item from the gallery.",
    "clutter": "A framed photo of an item from the gallery lies somewhere in this cluttered scene.",
    "description": 'There is no photo. An item in the gallery is described like this: "{}".',
    "vague": 'There is no photo. Someone remembers an item in the gallery only vaguely: "{}".',
}


def _answer(item: Any, kind: str) -> str:
    if kind == "price":
        return item.price
    if kind == "maker":
        return item.maker
    if kind == "year":
        return str(item.year)
    return item.id


class SearchFamily(TaskFamily):
    """Find the gallery item a photo or description shows, then read a fact from its metadata.

    >>> task = SearchFamily().generate("train", 1, 3)
    >>> task.data["mode"] in ("colour", "angle"), task.evidence[0].startswith("G-")
    (True, True)
    """

    name = "search"
    version = "v0"
    revision = 1
    env_id = "ToolUse-ImageSearch-v0"
    difficulties = (0, 1, 2, 3)
    default_difficulty = 1
    default_rubric = "exact_match:1"

    @property
    def tools(self) -> tuple[Tool, ...]:
        """``search_images`` (by words or by a region of the image) and ``open_item``."""
        return SEARCH_TOOLS

    def _generate(self, split: Split, difficulty: int, seed: int) -> Task:
        rng = np.random.default_rng([seed, difficulty, 0x5EA2C4])
        specs = item_specs(GALLERY_SIZE, GALLERY_SEED)
        items = items_of(GALLERY_SIZE, GALLERY_SEED)
        mode = MODES[difficulty][int(rng.integers(len(MODES[difficulty])))]
        question_kind = tuple(QUESTIONS)[int(rng.integers(len(QUESTIONS)))]
        description = None
        for _ in range(100):  # a description must single its item out; few targets need a redraw
            target = int(rng.integers(GALLERY_SIZE))
            if mode not in ("description", "vague"):
                break
            description = describe(
                specs[target], GALLERY_SIZE, GALLERY_SEED, rng, vague=mode == "vague"
            )
            if description is not None:
                break
        else:  # pragma: no cover  (most items have a unique description)
            raise RuntimeError(f"no describable target for search task seed {seed}")
        spec, item = specs[target], items[target]
        drawn: list[str] = []
        if description is None:
            image, box = image_query(render_item(spec), spec, mode, rng)
            elements: tuple[Element, ...] = (Element(kind="item", key=item.id, box=box),)
            if isinstance(spec.look, PosterLook):
                drawn.append(spec.look.title)  # the only text ever drawn on an item
            intro = _INTROS[mode]
        else:
            image = blank_card()
            elements = ()
            intro = _INTROS[mode].format(description)
        ask, answer_type = QUESTIONS[question_kind]
        data = {
            "gallery": {"name": GALLERY_NAME, "size": GALLERY_SIZE, "seed": GALLERY_SEED},
            "target": target,
            "target_id": item.id,
            "item_kind": item.kind,
            "mode": mode,
            "description": description,
            "drawn_text": drawn,
            "item_box": elements[0].box.as_list() if elements else None,
        }
        return Task(
            id=self.task_id(split, difficulty, seed),
            family=self.name,
            version=self.version,
            split=split,
            difficulty=difficulty,
            seed=seed,
            image=image,
            source_image=image,
            question=f"{intro} {ask}",
            answer=_answer(item, question_kind),
            answer_type=answer_type,
            question_kind=question_kind,
            evidence=(item.id,),
            elements=elements,
            tool_names=tuple(t.name for t in SEARCH_TOOLS),
            data=data,
        )
