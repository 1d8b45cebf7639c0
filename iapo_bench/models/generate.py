"""Sampling messages from a VLM: the one generation loop of the policies and the trainer.

:func:`sample` runs ``generate`` on a batch of model inputs (from
:func:`~iapo_bench.models.inputs.encode` or :func:`~iapo_bench.models.inputs.pack`) and
returns each row's new token ids through its end-of-turn token, and optionally the
log-probability each was sampled with. The vision tokens (``<|image_pad|>`` and its
neighbours) are never generated (:func:`suppressed_token_ids`): a sampled ``<|image_pad|>``
would stand for no image, and the next turn's inputs could not be built. The trainer's loss
masks the same ids, so what it scores is what was sampled from.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["VISION_TOKENS", "sample", "sampling_seed", "suppressed_token_ids"]

VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
"""Tokens only the processor places, around and for images; never sampled."""


def suppressed_token_ids(tokenizer: Any) -> list[int]:
    """The ids of :data:`VISION_TOKENS` the tokenizer has."""
    ids = [tokenizer.convert_tokens_to_ids(token) for token in VISION_TOKENS]
    unknown = tokenizer.unk_token_id
    return [i for i in ids if i is not None and i != unknown]


def sampling_seed(*parts: int | str) -> int:
    """A 63-bit seed from its parts (run seed, step, rank, turn): the same wherever it runs.

    >>> sampling_seed(0, 1) == sampling_seed(0, 1) != sampling_seed(0, 2)
    True
    """
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def sample(
    model: Any,
    tokenizer: Any,
    batch: Any,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    logprobs: bool = False,
) -> list[tuple[list[int], list[float] | None, bool]]:
    """One message per row of ``batch``: ``(ids, logprobs or None, ended)``.

    ``ids`` run through the end-of-turn token when the row reached it (``ended``), else to
    ``max_new_tokens``. Greedy at temperature 0; else sampled (``top_p``), after
    ``torch.manual_seed(seed)`` when a seed is given. ``logprobs`` asks for each token's
    log-probability under the distribution it was sampled from, computed step by step (never a
    batch x steps x vocabulary tensor).
    """
    import torch

    sampling = temperature > 0
    options: dict[str, Any] = {"do_sample": sampling}
    if sampling:
        options |= {"temperature": temperature, "top_p": top_p}
        if seed is not None:
            torch.manual_seed(seed)
    suppressed = suppressed_token_ids(tokenizer)
    if suppressed:
        options["suppress_tokens"] = suppressed
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            output_scores=logprobs,
            return_dict_in_generate=True,
            **options,
        )
    width = batch["input_ids"].shape[1]
    new = out.sequences[:, width:]
    chosen = None
    if logprobs:
        # Scores are the processed logits generation sampled from, one (B, V) per step.
        chosen = torch.stack(
            [
                step.float().log_softmax(dim=-1).gather(-1, new[:, t : t + 1]).squeeze(-1)
                for t, step in enumerate(out.scores)
            ],
            dim=1,
        )
    results = []
    eos = tokenizer.eos_token_id
    for row in range(new.shape[0]):
        ids = new[row].tolist()
        ended = eos in ids
        end = ids.index(eos) + 1 if ended else len(ids)
        row_logprobs = chosen[row, :end].tolist() if chosen is not None else None
        results.append((ids[:end], row_logprobs, ended))
    return results
