"""Log-probabilities of completions under a model: the one way to score generated tokens.

Generation, behaviour cloning and the trainer must place every token at the same position.
Qwen2.5-VL's positions are 3-D (M-RoPE): an image advances the text position by its grid's
side, not its token count, and the model can only compute them when the batch carries the
processor's ``mm_token_type_ids``. Without that key it silently falls back to 1-D positions,
so a model trained on one scheme and sampled under the other sees text after a second image
at shifted positions. :func:`append_completions` therefore extends ``mm_token_type_ids``
together with the ids and the mask, and :func:`completion_logprobs` scores with it.

:func:`selected_logits` is the fast path behaviour cloning and the trainer score with: the
rows of a batch share a long text prefix (the system prompt with its tool definitions: 433
of a Bars prompt's 488 tokens; a GRPO group shares its whole prompt), so the prefix runs
once and its keys and values are repeated for every row, and the output layer runs only
where a token is scored. Its 3-D positions are the model's own for the whole sequence; a
test holds its logits equal to the plain forward's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["append_completions", "completion_logprobs", "selected_logits", "shared_prefix_length"]


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


def _unpadded(batch: dict[str, Any]) -> list[Any]:
    """Each row's attended columns (the padding of a left- or right-padded batch left out)."""
    return [row.nonzero().squeeze(-1) for row in batch["attention_mask"].bool()]


def shared_prefix_length(batch: dict[str, Any], selected: Any) -> int:
    """The text tokens every row of ``batch`` starts with that no selected logit lies in.

    ``selected`` is a ``(B, W)`` bool tensor over the batch's columns, True where a logit is
    wanted. The prefix stops before the first image token and leaves every row at least one
    token, and every selected logit after it (a logit at the prefix's last token would need
    the prefix's own output).
    """
    columns = _unpadded(batch)
    rows = [batch["input_ids"][i, c] for i, c in enumerate(columns)]
    types = [batch["mm_token_type_ids"][i, c] for i, c in enumerate(columns)]
    length = min(len(r) for r in rows) - 1
    for i, (row, kinds) in enumerate(zip(rows, types, strict=True)):
        same = (row[:length] == rows[0][:length]) & (kinds[:length] == 0)
        differs = (~same).nonzero()
        length = min(length, int(differs[0]) if len(differs) else length)
        chosen = selected[i, columns[i]].nonzero()
        if len(chosen):
            length = min(length, int(chosen[0]))
    return max(0, length)


def _language_model(model: Any) -> Any | None:
    """The transformers VLM inside ``model`` when the fast path can drive it, else None.

    A PEFT model's adapters live inside the modules, so its base model is driven directly;
    a DDP-wrapped model (whose forward must run for gradients to synchronise) and gradient
    checkpointing (which drops the cache) take the plain path.
    """
    import torch

    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return None
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    inner = getattr(model, "model", None)
    if inner is None or not hasattr(inner, "get_rope_index") or not hasattr(model, "lm_head"):
        return None
    checkpointing = getattr(type(model), "is_activation_checkpointing", None)
    if checkpointing is None or model.is_activation_checkpointing:
        return None
    return model


def selected_logits(model: Any, batch: dict[str, Any], selected: Any) -> Any:
    """The logits at the ``selected`` columns of a padded batch, in row-major order.

    Equal to ``model(**batch).logits[selected]`` (``(N, V)``; graph kept when gradients are
    on), but the rows' shared text prefix (:func:`shared_prefix_length`) runs once, and the
    output layer only at the N selected columns. ``batch`` holds ``input_ids``,
    ``attention_mask``, ``mm_token_type_ids`` (left- or right-padded) and the images'
    ``pixel_values`` / ``image_grid_thw``. Models it cannot drive (see :func:`_language_model`)
    and batches without images or token types get the plain forward. Raises ``ValueError``
    when a selected column is padding.
    """
    import torch

    if (selected & ~batch["attention_mask"].bool()).any():
        raise ValueError("a selected column is padding: it has no logit to score")
    vlm = _language_model(model)
    # Without images the model numbers a left-padded row from column 0, padding included:
    # only the plain forward reproduces that.
    if vlm is None or "pixel_values" not in batch or "mm_token_type_ids" not in batch:
        return model(**batch, use_cache=False).logits[selected]
    inner = vlm.model
    device = batch["input_ids"].device
    prefix = shared_prefix_length(batch, selected)
    columns = _unpadded(batch)
    rows = len(columns)
    # The suffixes, right-padded, with the rows' own selections.
    width = max(len(c) for c in columns) - prefix
    shape = (rows, width)
    ids = torch.full(shape, 0, dtype=batch["input_ids"].dtype, device=device)
    kinds = torch.zeros(shape, dtype=batch["mm_token_type_ids"].dtype, device=device)
    mask = torch.zeros(shape, dtype=batch["attention_mask"].dtype, device=device)
    chosen = torch.zeros(shape, dtype=torch.bool, device=device)
    for row, cols in enumerate(columns):
        tail = cols[prefix:]
        ids[row, : len(tail)] = batch["input_ids"][row, tail]
        kinds[row, : len(tail)] = batch["mm_token_type_ids"][row, tail]
        mask[row, : len(tail)] = 1
        chosen[row, : len(tail)] = selected[row, tail]
    head = batch["input_ids"][0, columns[0][:prefix]].unsqueeze(0)
    ones = torch.ones((rows, prefix), dtype=mask.dtype, device=device)
    full_mask = torch.cat([ones, mask], dim=1)
    # The model's own 3-D positions for the whole sequences; the suffix takes its part.
    positions, _ = inner.get_rope_index(
        torch.cat([head.expand(rows, -1), ids], dim=1),
        mm_token_type_ids=torch.cat([torch.zeros_like(ones, dtype=kinds.dtype), kinds], dim=1),
        image_grid_thw=batch.get("image_grid_thw"),
        attention_mask=full_mask,
    )
    cache = None
    if prefix:
        cache = inner(
            input_ids=head,
            attention_mask=ones[:1],
            position_ids=positions[:, :1, :prefix],
            use_cache=True,
        ).cache
        cache.batch_repeat_interleave(rows)
    images = {k: batch[k] for k in ("pixel_values", "image_grid_thw") if k in batch}
    hidden = inner(
        input_ids=ids,
        attention_mask=full_mask,
        position_ids=positions[:, :, prefix:],
        cache=cache,
        use_cache=prefix > 0,
        **images,
    ).last_hidden_state
    return vlm.lm_head(hidden[chosen])
