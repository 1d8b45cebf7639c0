"""An image-only Qwen2.5-VL processor: image processor, tokenizer and chat template, no video.

transformers' ``Qwen2_5_VLProcessor`` insists on a video processor, which needs torchvision
(no CPU build of it is installable here). This subclass takes only what image tasks need and
uses ``Qwen2VLImageProcessorPil``, the image processor that runs on Pillow. Everything else,
``<|image_pad|>`` expansion to each image's merged token count included, is the parent's.

The Pillow image processor returns numpy arrays unless told otherwise, and TRL's
``GRPOTrainer`` calls the processor without ``return_tensors`` and then treats
``image_grid_thw`` as a tensor (``split_pixel_values_by_grid``: ``'list' object has no
attribute 'prod'``); :func:`build_processor` makes torch tensors its default, so the
processor works with TRL as shipped.
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen2_5_VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.processing_utils import ProcessorMixin

__all__ = ["ImageOnlyQwen2_5_VLProcessor", "build_processor"]

MIN_PIXELS = 28 * 28 * 4
MAX_PIXELS = 28 * 28 * 128
"""The tiny model's pixel budget: at most 128 image tokens an image (28x28 pixels each)."""


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """``Qwen2_5_VLProcessor`` without a video processor."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        # The parent's __init__ would look up a video processor; the mixin's takes what is given.
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def build_processor(
    tokenizer: Any | None = None, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS
) -> ImageOnlyQwen2_5_VLProcessor:
    """The tiny VLM's processor: the shipped tokenizer (unless given) and the Pillow images."""
    from iapo_bench.models.template import CHAT_TEMPLATE
    from iapo_bench.models.tokenizer import load_tokenizer

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    image_processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    # TRL calls the processor without return_tensors and needs tensors back.
    image_processor.return_tensors = "pt"
    return ImageOnlyQwen2_5_VLProcessor(image_processor, tokenizer, chat_template=CHAT_TEMPLATE)
