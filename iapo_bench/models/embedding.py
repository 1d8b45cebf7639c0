"""The embedding path: a VLM run from input embeddings with its image features merged in.

Attribution takes gradients with respect to the input embeddings ``e``, image tokens
included, so the image features are merged in first, exactly where the model's own forward
merges them (at the ``<|image_pad|>`` positions), and the model is then run from
``inputs_embeds`` with the 3-D M-RoPE positions the ordinary forward would compute from the
ids, the image grids and ``mm_token_type_ids``. The tests prove the two paths give the same
logits.

:func:`embed` builds an :class:`EmbeddedBatch` from a processor batch and the completions to
score (prompts left-padded by :func:`~iapo_bench.models.inputs.encode`, completions appended
right-padded by :func:`~iapo_bench.models.logprobs.append_completions`, as everywhere else);
:func:`decision_logprobs` and :func:`decision_score` give, for any embeddings of that batch,
the completion tokens' log-probabilities and their sum f. Image features are computed once,
without gradients: attribution treats them as inputs, never differentiating the vision tower.

Supports the Qwen2-VL family (``model.model.get_image_features`` and ``get_rope_index``), PEFT
wrappers of it included (:func:`base_model`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

__all__ = [
    "EmbeddedBatch",
    "base_model",
    "decision_logprobs",
    "decision_score",
    "embed",
    "image_features",
    "position_ids",
]


@dataclasses.dataclass(frozen=True)
class EmbeddedBatch:
    """Prompts and completions on the embedding path: everything a forward from embeddings needs.

    Rows are samples; columns are the left-padded prompts (``prompt_width`` of them) followed
    by the right-padded completions. All tensors are detached.
    """

    inputs_embeds: Any
    """``(B, W, d)`` in the model's dtype: token embeddings, image features merged in."""
    attention_mask: Any
    """``(B, W)``: 1 on real tokens, 0 on padding."""
    position_ids: Any
    """``(3, B, W)``: the model's own 3-D M-RoPE positions."""
    input_ids: Any
    """``(B, W)``: the token ids (image tokens are ``<|image_pad|>``)."""
    completion_mask: Any
    """``(B, W)`` bool: True on the completion tokens, the ones f sums over."""
    prompt_width: int
    """Columns of the (left-padded) prompts; completions start here."""

    @property
    def prompt_mask(self) -> Any:
        """``(B, W)`` bool: True on the real (unpadded) prompt tokens."""
        mask = self.attention_mask.bool().clone()
        mask[:, self.prompt_width :] = False
        return mask

    @property
    def completion_width(self) -> int:
        """Columns of the (right-padded) completions."""
        return int(self.input_ids.shape[1]) - self.prompt_width


def base_model(model: Any) -> Any:
    """The ``*ForConditionalGeneration`` inside PEFT's wrapper (or the model itself).

    PEFT's ``PeftModel.model`` is the wrapped model, not its inner ``model`` that holds
    ``get_image_features`` and ``get_rope_index``.
    """
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def image_features(model: Any, pixel_values: Any, image_grid_thw: Any) -> Any:
    """The vision tower's merged features, one row per image token, in the model's dtype.

    Identical images (same grid, same pixel values: the G rollouts of one prompt, or blank
    baselines) go through the tower once.
    """
    import torch

    pieces = torch.split(pixel_values, image_grid_thw.prod(dim=-1).tolist())
    kept: list[int] = []  # the first image of each distinct one
    which: list[int] = []  # each image's place in kept
    for index, piece in enumerate(pieces):
        for place, first in enumerate(kept):
            if torch.equal(image_grid_thw[first], image_grid_thw[index]) and torch.equal(
                pieces[first], piece
            ):
                which.append(place)
                break
        else:
            which.append(len(kept))
            kept.append(index)
    with torch.no_grad():
        out = base_model(model).model.get_image_features(
            torch.cat([pieces[i] for i in kept]), image_grid_thw[kept], return_dict=True
        )
    features = list(out.pooler_output)
    return torch.cat([features[place] for place in which], dim=0).to(model.dtype)


def position_ids(model: Any, batch: Any) -> Any:
    """The model's 3-D positions ``(3, B, W)`` for a batch with ``mm_token_type_ids``.

    The same computation the ordinary forward runs when it is given ids, so the embedding
    path places every token where the input-ids path does.
    """
    if "mm_token_type_ids" not in batch:
        raise ValueError("3-D positions need mm_token_type_ids (see iapo_bench.models.logprobs)")
    positions, _ = base_model(model).model.get_rope_index(
        batch["input_ids"],
        mm_token_type_ids=batch["mm_token_type_ids"],
        image_grid_thw=batch.get("image_grid_thw"),
        attention_mask=batch["attention_mask"],
    )
    return positions


def embed(
    model: Any, batch: Any, completions: Sequence[Sequence[int]], pad_token_id: int
) -> EmbeddedBatch:
    """The embedding path's inputs for ``batch``'s prompts followed by ``completions``.

    Raises ``ValueError`` when the image tokens and the image features do not pair up.
    """
    import torch

    from iapo_bench.models.logprobs import append_completions

    full = append_completions(batch, completions, pad_token_id)
    device = model.get_input_embeddings().weight.device
    full = {k: v.to(device) if hasattr(v, "to") else v for k, v in full.items()}
    ids = full["input_ids"]
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids)
        if full.get("pixel_values") is not None:
            features = image_features(model, full["pixel_values"], full["image_grid_thw"])
            image_mask = ids == model.config.image_token_id
            if int(image_mask.sum()) != features.shape[0]:
                raise ValueError(
                    f"{int(image_mask.sum())} image tokens for {features.shape[0]} image features"
                )
            embeds = embeds.masked_scatter(image_mask[..., None], features.to(embeds.dtype))
        positions = position_ids(model, full)
    return EmbeddedBatch(
        inputs_embeds=embeds.detach(),
        attention_mask=full["attention_mask"],
        position_ids=positions,
        input_ids=ids,
        completion_mask=full["completion_mask"].bool(),
        prompt_width=int(batch["input_ids"].shape[1]),
    )


def decision_logprobs(
    model: Any, embedded: EmbeddedBatch, inputs_embeds: Any = None, rows: Any = None
) -> Any:
    """Log-probabilities ``(R, C)`` of the completion tokens, float32, 0 on padding.

    ``inputs_embeds`` (``(R, W, d)``; default: the batch's own) are run as rows ``rows`` of
    the batch (a long tensor of sample indices, default all): their masks, positions and
    completion tokens. Only the completion columns' logits are computed. The graph is kept
    when gradients are enabled.
    """
    import torch

    if rows is None:
        rows = torch.arange(embedded.input_ids.shape[0], device=embedded.input_ids.device)
    if inputs_embeds is None:
        inputs_embeds = embedded.inputs_embeds[rows]
    width = embedded.completion_width
    out = model(
        inputs_embeds=inputs_embeds,
        attention_mask=embedded.attention_mask[rows],
        position_ids=embedded.position_ids[:, rows],
        use_cache=False,
        # The logits at column t predict the token at t + 1: the completion needs the last
        # prompt column and every completion column but the last.
        logits_to_keep=width + 1,
    )
    logprobs = out.logits[:, :-1].float().log_softmax(dim=-1)
    targets = embedded.input_ids[rows, embedded.prompt_width :]
    chosen = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mask = embedded.completion_mask[rows, embedded.prompt_width :]
    return chosen.masked_fill(~mask, 0.0)


def decision_score(
    model: Any, embedded: EmbeddedBatch, inputs_embeds: Any = None, rows: Any = None
) -> Any:
    """F per row ``(R,)``: the sum of the completion tokens' log-probabilities, float32.

    The score IAPO attributes: the log-likelihood of the first decision (the tool call, or
    the answer when no tool is called). Arguments as :func:`decision_logprobs`.
    """
    return decision_logprobs(model, embedded, inputs_embeds, rows).sum(dim=-1)
