"""Chat messages to model inputs: the one place that matches images to their tokens.

The env's messages mark each image with a ``{"type": "image"}`` placeholder, in order, and the
observation carries the images (``obs["images"]``): the first image shown, then one per tool
result that returned an image. :func:`attach_images` puts each image into its placeholder,
:func:`encode` renders a batch of conversations with the chat template and lets the
processor expand every ``<|image_pad|>`` to that image's merged token count, and
:func:`image_token_count` says what that count is. The trainer keeps rollouts as token ids
and packs them with :func:`pack` (each image processed once by :class:`ImageInputs`), which
gives the same inputs :func:`encode` gives for the same conversation. The trainer and the
attribution reward reuse these, so images and tokens are counted the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from iapo_bench.chat import pair_images

__all__ = [
    "ImageInputs",
    "attach_images",
    "encode",
    "image_token_count",
    "merged_grid",
    "neutral_messages",
    "neutral_text",
    "pack",
    "render",
    "special_spellings",
]


def attach_images(
    messages: Sequence[dict[str, Any]], images: Sequence[np.ndarray]
) -> list[dict[str, Any]]:
    """A copy of ``messages`` with the k-th image placeholder holding ``images[k]``.

    Each image becomes a PIL image, as processors take it; the pairing itself is
    :func:`iapo_bench.chat.pair_images`, which raises ``ValueError`` when the placeholders
    and the images do not pair up.

    >>> image = np.zeros((8, 8, 3), dtype=np.uint8)
    >>> out = attach_images([{"role": "user", "content": [{"type": "image"}]}], [image])
    >>> out[0]["content"][0]["image"].size
    (8, 8)
    """
    return pair_images(
        messages,
        images,
        lambda image: {"type": "image", "image": Image.fromarray(np.asarray(image))},
    )


_JOINER = "\u2060"  # WORD JOINER: invisible, and no tokenizer merges it into a special token


def special_spellings(tokenizer: Any) -> tuple[str, ...]:
    """How the tokenizer's special tokens are written (``<|im_start|>``, ``<|image_pad|>``...)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    spelled = {str(t) for t in tokenizer.all_special_tokens}
    spelled |= {token.content for token in added.values() if getattr(token, "special", False)}
    return tuple(sorted(s for s in spelled if len(s) > 1))


def neutral_text(text: str, spellings: Sequence[str]) -> str:
    """``text`` with every spelling of a special token broken, so it stays plain text.

    A message that writes ``<|image_pad|>`` or ``<|im_start|>`` must not become the token:
    an image token with no image stops the next prompt from being built, and a role token
    forges chat structure. A word joiner goes in after the first character.

    >>> neutral_text("a <|im_end|> b", ["<|im_end|>"]) == "a <\u2060|im_end|> b"
    True
    """
    for spelling in spellings:
        if spelling in text:
            text = text.replace(spelling, spelling[0] + _JOINER + spelling[1:])
    return text


def neutral_messages(messages: Sequence[dict[str, Any]], tokenizer: Any) -> list[dict[str, Any]]:
    """A copy of ``messages`` whose text (string contents and text parts) is :func:`neutral_text`.

    Every path from chat messages to tokens goes through it (:func:`encode`, :func:`render`,
    the attribution's prompt layout), so all of them tokenize agent text alike.
    """
    spellings = special_spellings(tokenizer)
    out = []
    for message in messages:
        copy = dict(message)
        content = message.get("content")
        if isinstance(content, str):
            copy["content"] = neutral_text(content, spellings)
        elif isinstance(content, list):
            copy["content"] = [
                {**part, "text": neutral_text(part["text"], spellings)}
                if part.get("type") == "text" and isinstance(part.get("text"), str)
                else dict(part)
                for part in content
            ]
        out.append(copy)
    return out


def render(
    processor: Any, messages: Sequence[dict[str, Any]], add_generation_prompt: bool = True
) -> str:
    """The chat template's text of ``messages`` (agent text neutral), before tokenizing."""
    return processor.apply_chat_template(
        neutral_messages(messages, processor.tokenizer),
        add_generation_prompt=add_generation_prompt,
        tokenize=False,
    )


def encode(
    processor: Any,
    conversations: Sequence[Sequence[dict[str, Any]]],
    images: Sequence[Sequence[np.ndarray]],
    tools: Sequence[dict[str, Any]] | None = None,
    add_generation_prompt: bool = True,
) -> Any:
    """A left-padded batch of model inputs for ``conversations`` and their images.

    Returns the processor's ``BatchFeature`` (``input_ids``, ``attention_mask``,
    ``pixel_values``, ``image_grid_thw``) as torch tensors. Message text that spells a special
    token stays text (:func:`neutral_messages`).
    """
    filled = [
        attach_images(neutral_messages(c, processor.tokenizer), i)
        for c, i in zip(conversations, images, strict=True)
    ]
    return processor.apply_chat_template(
        filled,
        tools=tools,
        add_generation_prompt=add_generation_prompt,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs={"padding": True},
    )


def merged_grid(processor: Any, image: np.ndarray) -> tuple[int, int]:
    """Rows and columns of merged patches (one ``<|image_pad|>`` token each) of ``image``."""
    grid = processor.image_processor(images=[Image.fromarray(np.asarray(image))])["image_grid_thw"]
    merge = processor.image_processor.merge_size
    _, rows, cols = (int(v) for v in np.asarray(grid).reshape(-1))
    return rows // merge, cols // merge


def image_token_count(processor: Any, image: np.ndarray) -> int:
    """How many ``<|image_pad|>`` tokens ``image`` becomes (its patches over merge size²)."""
    rows, cols = merged_grid(processor, image)
    return rows * cols


class ImageInputs:
    """Each image's processor output, computed once: what token-id batches are packed from.

    The trainer keeps rollouts as token ids and packs them into model inputs itself
    (:func:`pack`); an image shown to G rollouts (or to every turn of one) is processed once
    here and shared, keyed by the array object (kept alive by this cache).
    """

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self._cache: dict[int, tuple[np.ndarray, Any, Any]] = {}

    def __call__(self, image: np.ndarray) -> tuple[Any, Any]:
        """``(pixel_values, grid_thw)`` of one image, as torch tensors."""
        import torch

        held = self._cache.get(id(image))
        if held is None or held[0] is not image:
            out = self.processor.image_processor(images=[Image.fromarray(np.asarray(image))])
            pixels = torch.as_tensor(np.asarray(out["pixel_values"]))
            grid = torch.as_tensor(np.asarray(out["image_grid_thw"])).reshape(-1, 3)
            held = (image, pixels, grid)
            self._cache[id(image)] = held
        return held[1], held[2]

    def token_count(self, image: np.ndarray) -> int:
        """How many ``<|image_pad|>`` tokens ``image`` becomes."""
        _, grid = self(image)
        return int(grid.prod()) // self.processor.image_processor.merge_size**2

    def clear(self) -> None:
        """Forget every image (a trainer clears it between steps)."""
        self._cache.clear()


def pack(
    sequences: Sequence[Sequence[int]],
    images: Sequence[Sequence[np.ndarray]],
    image_inputs: ImageInputs,
    pad_token_id: int,
) -> dict[str, Any]:
    """Model inputs for token-id sequences and their images, left-padded: the ids-in path.

    Each row's ``<|image_pad|>`` runs must match its images in order and count (each image's
    merged token count); a mismatch is the bookkeeping bug TRL, verl and prime-rl users meet
    most, so it raises ``ValueError`` naming the row. The result holds ``input_ids``,
    ``attention_mask``, ``mm_token_type_ids`` (1 on image tokens, which the model needs for its
    3-D positions), and ``pixel_values`` / ``image_grid_thw`` when there are images: the same
    keys and values :func:`encode` gives for the same conversation.
    """
    import torch

    if len(sequences) != len(images):
        raise ValueError(f"{len(sequences)} sequences for {len(images)} image lists")
    image_token = image_inputs.processor.image_token_id
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    pixels, grids = [], []
    for row, (sequence, row_images) in enumerate(zip(sequences, images, strict=True)):
        tokens = torch.as_tensor(list(sequence), dtype=torch.long)
        ids[row, width - len(tokens) :] = tokens
        mask[row, width - len(tokens) :] = 1
        expected = 0
        for image in row_images:
            pixel_values, grid = image_inputs(image)
            pixels.append(pixel_values)
            grids.append(grid)
            expected += image_inputs.token_count(image)
        found = int((tokens == image_token).sum())
        if found != expected:
            raise ValueError(
                f"row {row}: {found} image tokens for {len(row_images)} images that make "
                f"{expected}; the ids and the images are out of step"
            )
    batch: dict[str, Any] = {
        "input_ids": ids,
        "attention_mask": mask,
        "mm_token_type_ids": (ids == image_token).long() * mask,
    }
    if pixels:
        batch["pixel_values"] = torch.cat(pixels, dim=0)
        batch["image_grid_thw"] = torch.cat(grids, dim=0)
    return batch
