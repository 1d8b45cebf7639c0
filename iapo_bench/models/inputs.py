"""Chat messages to model inputs: the one place that matches images to their tokens.

The env's messages mark each image with a ``{"type": "image"}`` placeholder, in order, and the
observation carries the images (``obs["images"]``): the first image shown, then one per tool
result that returned an image. :func:`attach_images` puts each image into its placeholder,
:func:`encode` renders a batch of conversations with the chat template and lets the
processor expand every ``<|image_pad|>`` to that image's merged token count, and
:func:`image_token_count` says what that count is. The trainer and the attribution reward
reuse these, so images and tokens are counted the same way everywhere.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["attach_images", "encode", "image_token_count"]


def attach_images(
    messages: Sequence[dict[str, Any]], images: Sequence[np.ndarray]
) -> list[dict[str, Any]]:
    """A copy of ``messages`` with the k-th image placeholder holding ``images[k]``.

    Raises ``ValueError`` when the placeholders and the images do not pair up.

    >>> image = np.zeros((8, 8, 3), dtype=np.uint8)
    >>> out = attach_images([{"role": "user", "content": [{"type": "image"}]}], [image])
    >>> out[0]["content"][0]["image"].size
    (8, 8)
    """
    messages = copy.deepcopy(list(messages))
    remaining = list(images)
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if part.get("type") == "image":
                if not remaining:
                    raise ValueError("more image placeholders in the messages than images")
                part["image"] = Image.fromarray(np.asarray(remaining.pop(0)))
    if remaining:
        raise ValueError(f"{len(remaining)} images have no placeholder in the messages")
    return messages


def encode(
    processor: Any,
    conversations: Sequence[Sequence[dict[str, Any]]],
    images: Sequence[Sequence[np.ndarray]],
    tools: Sequence[dict[str, Any]] | None = None,
    add_generation_prompt: bool = True,
) -> Any:
    """A left-padded batch of model inputs for ``conversations`` and their images.

    Returns the processor's ``BatchFeature`` (``input_ids``, ``attention_mask``,
    ``pixel_values``, ``image_grid_thw``) as torch tensors.
    """
    filled = [attach_images(c, i) for c, i in zip(conversations, images, strict=True)]
    return processor.apply_chat_template(
        filled,
        tools=tools,
        add_generation_prompt=add_generation_prompt,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        processor_kwargs={"padding": True},
    )


def image_token_count(processor: Any, image: np.ndarray) -> int:
    """How many ``<|image_pad|>`` tokens ``image`` becomes (its patches over merge size²)."""
    grid = processor.image_processor(images=[Image.fromarray(np.asarray(image))])["image_grid_thw"]
    return int(np.prod(np.asarray(grid[0]))) // processor.image_processor.merge_size**2
