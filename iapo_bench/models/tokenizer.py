"""The tiny VLM's tokenizer: byte-level BPE trained with ``tokenizers`` on the project's texts.

:func:`train_tokenizer` trains one from any texts (``scripts/train_tokenizer.py`` feeds it the
tasks' prompts, questions, tool calls and answers and writes the shipped
``assets/tokenizer.json``); :func:`load_tokenizer` wraps the shipped file as a transformers
tokenizer with Qwen2.5-VL's special tokens, offline.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

__all__ = ["SPECIAL_TOKENS", "load_tokenizer", "train_tokenizer", "wrap_tokenizer"]

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""Qwen2.5-VL's special tokens (the video pad exists only because the processor names it)."""


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts``; every byte is covered.

    >>> tokenizer = train_tokenizer(["<answer>42</answer>"] * 4, vocab_size=300)
    >>> tokenizer.decode(tokenizer.encode("<answer>7</answer>").ids)
    '<answer>7</answer>'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def wrap_tokenizer(tokenizer: Any) -> Any:
    """A transformers fast tokenizer over a ``tokenizers.Tokenizer``, padding on the left."""
    from transformers import PreTrainedTokenizerFast

    from iapo_bench.models.template import CHAT_TEMPLATE, RESPONSE_TEMPLATE

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",  # generation appends on the right
        chat_template=CHAT_TEMPLATE,
    )
    fast.response_template = RESPONSE_TEMPLATE
    return fast


def load_tokenizer() -> Any:
    """The shipped tokenizer, as a transformers tokenizer."""
    from tokenizers import Tokenizer

    text = resources.files("iapo_bench.models").joinpath("assets", "tokenizer.json").read_text()
    return wrap_tokenizer(Tokenizer.from_str(text))
