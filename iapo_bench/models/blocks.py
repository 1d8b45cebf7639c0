"""Prompt blocks: which part of a chat prompt each of its tokens comes from.

IAPO splits a prompt into blocks (DESIGN.md, "The method in one page"): the system text and
chat markup (``P``), the user's query (``R``), image tokens (``I``), the tool definitions
(``T``) and, on later turns, the tool outputs (``O``). The paper uses the first four; which
partition is used is configuration (:data:`PARTITIONS`).

Spans come from how the prompt is built, never from searching decoded text:

- the chat template is rendered once with every text piece wrapped in numbered marks (the
  text stays, so a template that looks at it renders alike), which gives the template's own
  text between the pieces; the marks removed must give the ordinary rendering exactly, or
  :func:`prompt_layout` refuses the template;
- the system message is split into instructions and tool schemas by
  :func:`iapo_bench.chat.split_system_prompt`, the inverse of the function that built it;
- each image's tokens are counted from the processor's image grid, as
  :mod:`iapo_bench.models.inputs` counts them, and their (row, column) in the image's grid of
  merged patches is kept, so the image block can be split further: into a k x k grid, or into
  the cells that overlap the task's evidence regions and the rest.

Token offsets come from the tokenizer's offset mapping, so the processor's tokenizer must be
a fast one. A token that straddles two pieces belongs to the piece it starts in. The layout
is per model (each tokenizer and image processor counts its own tokens) but its block names
are not, so a student and a teacher with different tokenizers share one block set.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.chat import split_system_prompt
from iapo_bench.core import Box, ImageArray
from iapo_bench.models.inputs import neutral_messages

__all__ = [
    "KINDS",
    "PARTITIONS",
    "ImageLayout",
    "ImageSplit",
    "Partition",
    "Prompt",
    "PromptLayout",
    "block_names",
    "prompt_layout",
    "token_blocks",
]

Partition = Literal["paper", "outputs"]
"""``"paper"``: P, R, I, T (tool outputs count as text and images); ``"outputs"``: adds O."""

ImageSplit = Literal["none", "grid", "evidence"]
"""How the image block is split further: not, a k x k grid, evidence cells vs the rest."""

KINDS = (
    "markup",  # the chat template's own text: role headers, end-of-turn, image delimiters
    "system",  # system instructions
    "tools",  # the tool schemas inside the system message
    "query",  # the text of the first user message: the question
    "image",  # image tokens of a user message: the image shown
    "assistant",  # the model's own earlier messages
    "tool_text",  # the text a tool returned
    "tool_image",  # the image a tool returned
    "feedback",  # later user messages: the env's note after an unreadable message
)
"""What each prompt token is, before a partition maps it to a block."""

PARTITIONS: dict[str, dict[str, str]] = {
    "paper": {
        "markup": "P",
        "system": "P",
        "tools": "T",
        "query": "R",
        "image": "I",
        "assistant": "P",
        "tool_text": "P",
        "tool_image": "I",
        "feedback": "P",
    },
    "outputs": {
        "markup": "P",
        "system": "P",
        "tools": "T",
        "query": "R",
        "image": "I",
        "assistant": "P",
        "tool_text": "O",
        "tool_image": "O",
        "feedback": "P",
    },
}
"""Each partition: token kind -> block name."""

_PARTITION_BLOCKS = {"paper": ("P", "R", "I", "T"), "outputs": ("P", "R", "I", "T", "O")}

_MARKED = re.compile("\ue000(\\d+)\ue001(.*?)\ue002", re.DOTALL)


class Prompt(BaseModel):
    """One prompt to attribute: the env's chat messages, their images, the evidence regions.

    ``messages`` are OpenAI-format messages with ``{"type": "image"}`` placeholders matched in
    order with ``images`` (the env's ``info["messages"]`` and ``obs["images"]``).
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    messages: tuple[dict[str, Any], ...] = Field(description="OpenAI-format chat messages.")
    images: tuple[ImageArray, ...] = Field(description="One image per image placeholder.")
    evidence: tuple[Box, ...] = Field(
        default=(),
        description="Evidence regions in pixels of the first image (for the evidence split "
        "and the evidence share); empty when unknown.",
    )


class ImageLayout(BaseModel):
    """Where one image's tokens sit in a prompt and which cell of the image each covers."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="The image's place among the prompt's images.")
    start: int = Field(description="Index of its first token in the prompt.")
    rows: int = Field(description="Rows of merged patches (one token each).")
    cols: int = Field(description="Columns of merged patches.")
    height: int = Field(description="The image's height in pixels, as given.")
    width: int = Field(description="The image's width in pixels, as given.")
    kind: str = Field(description="'image' (shown by the user) or 'tool_image'.")

    @property
    def count(self) -> int:
        """How many tokens the image takes."""
        return self.rows * self.cols

    def cell_box(self, token: int) -> tuple[float, float, float, float]:
        """The pixel region ``(x0, y0, x1, y1)`` of the image that its ``token``-th token covers.

        The processor resizes the whole image onto the grid, so each token covers an equal
        share of the image as given.
        """
        row, col = divmod(token, self.cols)
        return (
            col * self.width / self.cols,
            row * self.height / self.rows,
            (col + 1) * self.width / self.cols,
            (row + 1) * self.height / self.rows,
        )

    def evidence_cells(self, boxes: Sequence[Box]) -> np.ndarray:
        """A boolean per token: whether its cell overlaps any of ``boxes`` (any area at all)."""
        hits = np.zeros(self.count, dtype=bool)
        for token in range(self.count):
            x0, y0, x1, y1 = self.cell_box(token)
            hits[token] = any(
                min(x1, b.x1) > max(x0, b.x0) and min(y1, b.y1) > max(y0, b.y0) for b in boxes
            )
        return hits

    def grid_cells(self, size: int) -> np.ndarray:
        """Each token's cell of a ``size`` x ``size`` grid over the image: ``row * size + col``."""
        rows, cols = np.divmod(np.arange(self.count), self.cols)
        return (rows * size // self.rows) * size + cols * size // self.cols


class PromptLayout(BaseModel):
    """A prompt's tokens (as one model's processor makes them) and what each one is."""

    model_config = ConfigDict(frozen=True)

    token_ids: tuple[int, ...] = Field(description="The prompt's token ids, unpadded.")
    kinds: tuple[str, ...] = Field(description="Each token's kind (:data:`KINDS`).")
    images: tuple[ImageLayout, ...] = Field(description="Every image's tokens, in order.")


def _texts(messages: Sequence[Mapping[str, Any]]) -> list[tuple[int, int | None, str, str]]:
    """Every text piece: (message, part or None for string content, kind, text)."""
    pieces: list[tuple[int, int | None, str, str]] = []
    seen_user = False
    for index, message in enumerate(messages):
        role, content = message["role"], message.get("content")
        if role == "user":
            kind = "feedback" if seen_user else "query"
            seen_user = True
        else:
            kind = {"system": "system", "assistant": "assistant", "tool": "tool_text"}.get(
                role, "system"
            )
        if content is None:
            continue
        if isinstance(content, str):
            pieces.append((index, None, kind, content))
            continue
        for part_index, part in enumerate(content):
            if part.get("type") == "text":
                pieces.append((index, part_index, kind, part["text"]))
    return pieces


def _image_kinds(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    kinds = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") in ("image", "image_url"):
                    kinds.append("tool_image" if message["role"] == "tool" else "image")
    return kinds


def _with_sentinels(
    messages: Sequence[Mapping[str, Any]], pieces: Sequence[tuple[int, int | None, str, str]]
) -> list[dict[str, Any]]:
    """A copy of ``messages`` with each text piece wrapped in numbered private-use marks.

    The text stays in place, so a template that looks at it (ours renders ``tool_calls`` only
    when the text holds no ``<tool_call>``) renders the same thing around it.
    """
    out = [dict(m) for m in messages]
    for number, (index, part_index, _, text) in enumerate(pieces):
        marked = f"\ue000{number}\ue001{text}\ue002"
        if part_index is None:
            out[index]["content"] = marked
        else:
            parts = [dict(p) for p in out[index]["content"]]
            parts[part_index]["text"] = marked
            out[index]["content"] = parts
    return out


def _segments(kind: str, text: str) -> list[tuple[str, str]]:
    """A text piece as (kind, text) segments: a system prompt cut into instructions and tools."""
    parts = split_system_prompt(text) if kind == "system" else None
    if parts is None:
        return [(kind, text)]
    before, tools, after = parts
    return [("system", before), ("tools", tools), ("system", after)]


def _render(processor: Any, messages: Sequence[Mapping[str, Any]]) -> str:
    return processor.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def prompt_layout(
    processor: Any, prompt: Prompt, image_grid_thw: Sequence[Sequence[int]] | None = None
) -> PromptLayout:
    """What each token of ``prompt`` is, as ``processor`` tokenizes it (with a generation prompt).

    ``image_grid_thw`` gives the images' grids when the processor has already made them (one
    row per image, as in its batch); otherwise its image processor is run on the images.
    Raises ``ValueError`` when the chat template alters message text (the pieces could not be
    located), or when images and their placeholders or tokens do not pair up.
    """
    from PIL import Image

    messages = neutral_messages(prompt.messages, processor.tokenizer)  # as encode renders them
    pieces = _texts(messages)
    split = _MARKED.split(_render(processor, _with_sentinels(messages, pieces)))
    glue, numbers, inner = split[0::3], [int(n) for n in split[1::3]], split[2::3]
    if numbers != list(range(len(pieces))) or inner != [text for *_, text in pieces]:
        raise ValueError("the chat template reorders, repeats or alters message text")
    segments: list[tuple[str, str]] = []
    for index, markup in enumerate(glue):
        segments.append(("markup", markup))
        if index < len(pieces):
            segments += _segments(pieces[index][2], pieces[index][3])
    if "".join(text for _, text in segments) != _render(processor, messages):
        raise ValueError("the chat template alters message text; prompt blocks cannot be found")

    image_kinds = _image_kinds(messages)
    if len(image_kinds) != len(prompt.images):
        raise ValueError(f"{len(image_kinds)} image placeholders for {len(prompt.images)} images")
    merge = processor.image_processor.merge_size
    grids = np.zeros((0, 3), dtype=np.int64)
    if image_grid_thw is not None:
        grids = np.asarray(image_grid_thw, dtype=np.int64).reshape(-1, 3)
    elif prompt.images:
        pil = [Image.fromarray(image) for image in prompt.images]
        grids = np.asarray(processor.image_processor(images=pil)["image_grid_thw"]).reshape(-1, 3)
    if len(grids) != len(prompt.images):
        raise ValueError(f"{len(grids)} image grids for {len(prompt.images)} images")

    # The text as the processor expands it: each image pad repeated to its image's token
    # count. Each span records where it starts, its kind and its image (or -1).
    pad = processor.image_token
    text, starts, spans, image = "", [], [], 0
    for kind, segment in segments:
        chunks = segment.split(pad)
        if kind != "markup" and len(chunks) > 1:
            raise ValueError(f"message text holds the image token {pad!r}")
        for number, chunk in enumerate(chunks):
            if number:
                if image >= len(prompt.images):
                    raise ValueError("more image pads in the rendered prompt than images")
                starts.append(len(text))
                spans.append((image_kinds[image], image))
                text += pad * (int(np.prod(grids[image])) // merge**2)
                image += 1
            starts.append(len(text))
            spans.append((kind, -1))
            text += chunk

    encoded = processor.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    kinds: list[str] = []
    counts = [0] * len(prompt.images)
    first = [-1] * len(prompt.images)
    for position, (start, _) in enumerate(encoded["offset_mapping"]):
        kind, image = spans[bisect.bisect_right(starts, start) - 1]
        kinds.append(kind)
        if image >= 0:
            first[image] = position if counts[image] == 0 else first[image]
            counts[image] += 1
    images = []
    for index, grid in enumerate(grids):
        height, width = prompt.images[index].shape[:2]
        layout = ImageLayout(
            index=index,
            start=first[index],
            rows=int(grid[1]) // merge,
            cols=int(grid[2]) // merge,
            height=height,
            width=width,
            kind=image_kinds[index],
        )
        if counts[index] != layout.count:
            raise ValueError(f"image {index} has {counts[index]} tokens, its grid {layout.count}")
        images.append(layout)
    return PromptLayout(
        token_ids=tuple(encoded["input_ids"]), kinds=tuple(kinds), images=tuple(images)
    )


def block_names(
    partition: Partition = "paper", image_split: ImageSplit = "none", grid_size: int = 2
) -> tuple[str, ...]:
    """The blocks of a partition, the image block replaced by its parts when it is split.

    >>> block_names("paper", "evidence")
    ('P', 'R', 'I:evidence', 'I:rest', 'T')
    """
    if partition not in _PARTITION_BLOCKS:
        raise ValueError(f"unknown partition {partition!r}; known: {sorted(_PARTITION_BLOCKS)}")
    parts: tuple[str, ...] = ("I",)
    if image_split == "evidence":
        parts = ("I:evidence", "I:rest")
    elif image_split == "grid":
        parts = tuple(f"I:{r},{c}" for r in range(grid_size) for c in range(grid_size))
    elif image_split != "none":
        raise ValueError(f"unknown image split {image_split!r}; known: none, grid, evidence")
    out: list[str] = []
    for name in _PARTITION_BLOCKS[partition]:
        out += parts if name == "I" else (name,)
    return tuple(out)


def token_blocks(
    layout: PromptLayout,
    partition: Partition = "paper",
    image_split: ImageSplit = "none",
    grid_size: int = 2,
    evidence: Sequence[Box] = (),
) -> tuple[str, ...]:
    """Each prompt token's block under a partition (names from :func:`block_names`).

    With ``image_split="evidence"``, the tokens of the first image whose cells overlap an
    ``evidence`` region are ``"I:evidence"``; every other image token of the ``I`` block
    (later images included: the regions are in the first image's pixels) is ``"I:rest"``.
    With ``"grid"``, each image's tokens go to the cell of a ``grid_size`` x ``grid_size``
    grid over that image (``"I:row,col"``), pooled over images.
    """
    mapping = PARTITIONS[partition]
    blocks = [mapping[kind] for kind in layout.kinds]
    if image_split == "none":
        return tuple(blocks)
    for image in layout.images:
        if image_split == "evidence":
            hits = image.evidence_cells(evidence) if image.index == 0 else np.zeros(image.count)
            names = ["I:evidence" if hit else "I:rest" for hit in hits]
        elif image_split == "grid":
            names = [f"I:{c // grid_size},{c % grid_size}" for c in image.grid_cells(grid_size)]
        else:
            raise ValueError(f"unknown image split {image_split!r}; known: none, grid, evidence")
        for token, name in enumerate(names):
            if blocks[image.start + token] == "I":
                blocks[image.start + token] = name
    return tuple(blocks)
