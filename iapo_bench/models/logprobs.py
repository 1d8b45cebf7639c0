"""Log-probabilities of completions under a model: the one way to score generated tokens.

Generation, behaviour cloning and the trainer must place every token at the same position.
Qwen2.5-VL's positions are 3-D (M-RoPE): an image advances the text position by its grid's
side, not its token count, and the model can only compute them when the batch carries the
processor's ``mm_token_type_ids``. Without that key it silently falls back to 1-D positions,
so a model trained on one scheme and sampled under the other sees text after a second image
at shifted positions. :func:`append_completions` therefore extends ``mm_token_type_ids``
together with the ids and the mask, and :func:`completion_logprobs` scores with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["append_completions", "completion_logprobs"]


def append_completions(batch: Any, completions: Sequence[Sequence[int]], pad_token_id: int) -> Any:
    """``batch`` with each row's completion appended after its prompt.

    ``batch`` holds left-padded prompts from :func:`~iapo_bench.models.inputs.encode`; the
    completions are right-padded to the longest. Returns a new ``dict`` of model inputs with
    a ``completion_mask`` (1 on completion tokens) beside them.
    """
    import torch

    if len(completions) != batch["input_ids"].shape[0]:
        raise ValueError(
            f"{len(completions)} completions for a batch of {batch['input_ids'].shape[0]} prompts"
        )
    rows, width = len(completions), max((len(c) for c in completions), default=0)
    ids = torch.full((rows, width), pad_token_id, dtype=batch["input_ids"].dtype)
    mask = torch.zeros((rows, width), dtype=batch["attention_mask"].dtype)
    for row, completion in enumerate(completions):
        ids[row, : len(completion)] = torch.tensor(list(completion), dtype=ids.dtype)
        mask[row, : len(completion)] = 1
    device = batch["input_ids"].device
    ids, mask = ids.to(device), mask.to(device)
    out = dict(batch)
    out["input_ids"] = torch.cat([batch["input_ids"], ids], dim=1)
    out["attention_mask"] = torch.cat([batch["attention_mask"], mask], dim=1)
    if "mm_token_type_ids" in batch:
        text = torch.zeros_like(ids, dtype=batch["mm_token_type_ids"].dtype)
        out["mm_token_type_ids"] = torch.cat([batch["mm_token_type_ids"], text], dim=1)
    out["completion_mask"] = torch.cat([torch.zeros_like(batch["attention_mask"]), mask], dim=1)
    return out


def completion_logprobs(
    model: Any,
    batch: Any,
    completions: Sequence[Sequence[int]],
    pad_token_id: int,
    suppressed: Sequence[int] = (),
) -> list[Any]:
    """Per-token log-probabilities of each completion given its prompt, in one forward pass.

    Returns one 1-D tensor per row (graph attached when called with gradients enabled, so
    the trainer can use it for its loss). ``suppressed`` token ids are left out of the
    distribution, as generation leaves them out (:func:`~iapo_bench.models.generate.sample`).
    Raises ``ValueError`` when the batch lacks ``mm_token_type_ids`` but holds images: the
    model would place tokens wrongly.
    """
    if "pixel_values" in batch and "mm_token_type_ids" not in batch:
        raise ValueError("a batch with images needs mm_token_type_ids for the model's positions")
    full = append_completions(batch, completions, pad_token_id)
    completion_mask = full.pop("completion_mask").bool()
    logits = model(**full).logits[:, :-1].float()
    if suppressed:
        logits[..., list(suppressed)] = float("-inf")
    # The token at position t is predicted by the logits at t - 1.
    logprobs = logits.log_softmax(dim=-1)
    targets = full["input_ids"][:, 1:]
    chosen = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    shifted = completion_mask[:, 1:]
    return [chosen[row][shifted[row]] for row in range(chosen.shape[0])]
