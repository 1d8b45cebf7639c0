"""PAPO's masked-image signal: how much the policy's decision depends on seeing the image.

PAPO (arXiv 2507.06448) adds to GRPO an "implicit perception loss": the KL divergence between
the policy's token distributions given the original image and given a copy with random
patches blackened (mask ratio 0.6 in the paper). A policy that reads the image changes its
distributions when the image is masked; one that ignores the image does not.

:func:`masked_image_terms` is the one implementation, used by the trainer's PAPO loss term
(with gradients: call it with grad enabled, the result keeps its graph; it also gives the
two entropies of PAPO's double entropy regulariser) and, through :func:`masked_image_kl`, by
the PAPO-style reward in :mod:`iapo_bench.rewards.attribution` (without). The patches are
the model's own image tokens: each image is cut into the processor's grid of merged patches
(one token each), and a seeded random ``mask_ratio`` share of those cells is blackened in
the image as given, before the processor sees it.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from iapo_bench.models.blocks import Prompt

__all__ = ["MaskedImageTerms", "mask_patches", "masked_image_kl", "masked_image_terms"]


def mask_patches(
    image: np.ndarray, rows: int, cols: int, ratio: float, rng: np.random.Generator
) -> np.ndarray:
    """A copy of ``image`` with ``round(ratio * rows * cols)`` random cells of a grid blackened.

    The grid divides the image into ``rows`` x ``cols`` equal cells (the processor resizes
    the whole image onto its grid, so each cell is one image token's share).

    >>> image = np.full((4, 4, 3), 255, dtype=np.uint8)
    >>> int((mask_patches(image, 2, 2, 0.5, np.random.default_rng(0)) == 0).all(-1).sum())
    8
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"mask ratio must be in [0, 1], got {ratio}")
    out = np.array(image, copy=True)
    height, width = out.shape[:2]
    count = round(ratio * rows * cols)
    for cell in rng.choice(rows * cols, size=count, replace=False):
        row, col = divmod(int(cell), cols)
        y0, y1 = row * height // rows, (row + 1) * height // rows
        x0, x1 = col * width // cols, (col + 1) * width // cols
        out[y0:y1, x0:x1] = 0
    return out


def _completion_logprobs(model: Any, batch: Any, completions: Sequence[Sequence[int]], pad: int):
    """Full log-distributions ``(B, C, V)`` at the completion tokens, and their mask."""
    from iapo_bench.models.logprobs import append_completions

    full = append_completions(batch, completions, pad)
    mask = full.pop("completion_mask").bool()
    width = max(len(c) for c in completions)
    # From the parameters: a DDP-wrapped model forwards nothing else (its forward is used, so
    # the gradient hooks run).
    device = next(model.parameters()).device
    full = {k: v.to(device) if hasattr(v, "to") else v for k, v in full.items()}
    logits = model(**full, use_cache=False, logits_to_keep=width + 1).logits[:, :-1]
    targets = full["input_ids"][:, -width:]
    return logits.float().log_softmax(dim=-1), targets, mask[:, -width:].to(device)


@dataclasses.dataclass(frozen=True)
class MaskedImageTerms:
    """PAPO's per-token terms for one decision (1-D float32 tensors, one value per token)."""

    kl: Any
    """The KL between the policy on the image and on the masked image (see ``direction``)."""
    entropy: Any
    """The policy's entropy given the image (PAPO's double entropy term, first half)."""
    masked_entropy: Any
    """The policy's entropy given the masked image (the second half)."""


def masked_image_terms(
    model: Any,
    processor: Any,
    prompts: Sequence[Prompt],
    decisions: Sequence[Sequence[int] | str],
    mask_ratio: float = 0.6,
    seed: int = 0,
    direction: Literal["forward", "reverse"] = "forward",
    estimator: Literal["full", "k3"] = "full",
) -> list[MaskedImageTerms]:
    """PAPO's KL and both entropies at each decision token, original vs patch-masked images.

    ``direction`` ``"forward"`` is KL(pi(.|image) || pi(.|masked)), PAPO's; ``"reverse"``
    swaps them. ``estimator`` ``"full"`` sums over the whole vocabulary; ``"k3"`` is the
    sampled-token estimate exp(r) - r - 1 with r the log-ratio of the decision's own tokens
    (what PAPO's and TRL's implementations use), cheaper for large vocabularies. The graph is
    kept when gradients are enabled (the trainer's loss term). Each image's mask is drawn
    from ``seed`` and the image's pixels, so a call is reproducible and the G rollouts of one
    prompt are compared under the same mask.
    """
    from iapo_bench.models.inputs import encode, merged_grid

    if estimator == "k3" and direction == "reverse":
        raise ValueError(
            "the k3 estimator needs tokens drawn from the first distribution: the decisions "
            "come from the policy on the original image, so only direction='forward' is unbiased"
        )
    if len(prompts) != len(decisions):
        raise ValueError(f"{len(prompts)} prompts for {len(decisions)} decisions")
    if not prompts:
        return []
    tokenizer = processor.tokenizer
    completions = [
        tokenizer(d, add_special_tokens=False)["input_ids"] if isinstance(d, str) else list(d)
        for d in decisions
    ]
    masked_images = [
        [
            # The mask depends on the seed and the image alone: the G rollouts of one prompt
            # see the same masked image, and a new seed draws new masks.
            mask_patches(
                image,
                *merged_grid(processor, image),
                mask_ratio,
                np.random.default_rng([seed, zlib.crc32(image.tobytes())]),
            )
            for image in prompt.images
        ]
        for prompt in prompts
    ]
    messages = [p.messages for p in prompts]
    original = encode(processor, messages, [p.images for p in prompts])
    masked = encode(processor, messages, masked_images)
    pad = tokenizer.pad_token_id
    seen, targets, mask = _completion_logprobs(model, original, completions, pad)
    blind, _, _ = _completion_logprobs(model, masked, completions, pad)
    first, second = (seen, blind) if direction == "forward" else (blind, seen)
    if estimator == "full":
        kl = (first.exp() * (first - second)).sum(dim=-1)
    else:
        # r = log(second / first) at the decision's tokens; exp(r) - r - 1 >= 0 estimates
        # KL(first || second) when the tokens are drawn from first.
        index = targets.unsqueeze(-1)
        ratio = second.gather(-1, index).squeeze(-1) - first.gather(-1, index).squeeze(-1)
        kl = ratio.exp() - ratio - 1
    entropy = -(seen.exp() * seen).sum(dim=-1)
    masked_entropy = -(blind.exp() * blind).sum(dim=-1)
    return [
        MaskedImageTerms(
            kl=kl[row][mask[row]],
            entropy=entropy[row][mask[row]],
            masked_entropy=masked_entropy[row][mask[row]],
        )
        for row in range(len(prompts))
    ]


def masked_image_kl(
    model: Any,
    processor: Any,
    prompts: Sequence[Prompt],
    decisions: Sequence[Sequence[int] | str],
    mask_ratio: float = 0.6,
    seed: int = 0,
    direction: Literal["forward", "reverse"] = "forward",
    estimator: Literal["full", "k3"] = "full",
) -> list[Any]:
    """Per-token KL between the policy on the original and on patch-masked images.

    One 1-D float32 tensor per sample, one value per decision token: the ``kl`` of
    :func:`masked_image_terms`, whose arguments it takes.
    """
    terms = masked_image_terms(
        model, processor, prompts, decisions, mask_ratio, seed, direction, estimator
    )
    return [t.kl for t in terms]
