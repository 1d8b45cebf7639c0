"""The trainer's loss pieces: log-probabilities of generated tokens, GRPO's objective, KL terms.

- :func:`group_advantages`: GRPO's group-normalised advantages.
- :func:`generated_distributions`: one forward pass over packed rollouts; the log-distribution
  at every generated token (the only ones the loss sees: prompts and the env's answers, tool
  outputs included, carry no weight).
- :func:`policy_loss`: the clipped-ratio objective with the k3 KL to a frozen reference.
- :func:`kl_full`, :func:`entropy`: per-token divergences and entropies over the vocabulary,
  for the distillation control and PAPO's terms.

All log-probabilities are float32, whatever the model's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "entropy",
    "generated_distributions",
    "generated_mask",
    "group_advantages",
    "kl_full",
    "policy_loss",
]


def group_advantages(rewards: Sequence[float], group_size: int, scale: bool = True) -> list[float]:
    """``(r - mean of its group) / (std of its group + 1e-4)``; groups are consecutive runs.

    ``scale=False`` leaves out the division (Dr. GRPO's choice: no weight on easy groups).
    A group whose rewards are all equal gets zero advantages: it teaches nothing.

    >>> [round(a, 3) for a in group_advantages([1.0, 0.0, 1.0, 1.0], 2)]
    [1.0, -1.0, 0.0, 0.0]
    """
    import statistics

    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not make groups of {group_size}")
    out: list[float] = []
    for start in range(0, len(rewards), group_size):
        group = list(rewards[start : start + group_size])
        mean = statistics.fmean(group)
        spread = statistics.pstdev(group) if len(group) > 1 else 0.0
        out += [(r - mean) / (spread + 1e-4) if scale else r - mean for r in group]
    return out


def generated_mask(generated: Sequence[Sequence[bool]], width: int) -> Any:
    """``(B, width)`` bool: each row's per-token flags, right-aligned as :func:`pack` left-pads.

    >>> generated_mask([[False, True], [True]], 3).tolist()
    [[False, False, True], [False, False, True]]
    """
    import torch

    mask = torch.zeros((len(generated), width), dtype=torch.bool)
    for row, flags in enumerate(generated):
        if flags:
            mask[row, width - len(flags) :] = torch.as_tensor(list(flags))
    return mask


def generated_distributions(
    model: Any,
    batch: dict[str, Any],
    generated: Any,
    temperature: float = 1.0,
    suppressed: Sequence[int] = (),
) -> tuple[Any, Any]:
    """Log-probabilities of the generated tokens and the log-distributions they came from.

    ``batch`` is :func:`~iapo_bench.models.inputs.pack`'s output (left-padded ids, the
    images); ``generated`` a ``(B, W)`` bool tensor aligned with its ids, True where the
    policy generated the token. The distribution is the one tokens were sampled from: the
    logits over ``temperature``, the ``suppressed`` ids (the vision tokens) left out. Returns
    ``(chosen, distributions)``: ``chosen`` is ``(N,)``, the log-probability of each generated
    token in row-major order, ``distributions`` is ``(N, V)``, each one's full
    log-distribution. Only the N selected logits are computed
    (:func:`~iapo_bench.models.logprobs.selected_logits`: the rows' shared prompt runs once).
    The graph is kept.
    """
    import torch

    from iapo_bench.models.logprobs import selected_logits

    # The token at column t is predicted by the logits at t - 1.
    targets = generated[:, 1:]
    before = torch.zeros_like(generated)
    before[:, :-1] = targets
    selected = selected_logits(model, batch, before).float() / temperature
    if suppressed:
        selected[:, list(suppressed)] = float("-inf")
    selected = selected.log_softmax(dim=-1)
    tokens = batch["input_ids"][:, 1:][targets]
    chosen = selected.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return chosen, selected


def policy_loss(
    logprobs: Any,
    old_logprobs: Any,
    reference_logprobs: Any | None,
    advantages: Any,
    clip_low: float,
    clip_high: float,
    beta: float,
) -> tuple[Any, dict[str, Any]]:
    """Per-token GRPO loss: the clipped ratio objective plus ``beta`` times the k3 KL.

    ``-min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A) + beta * k3``, with
    ``ratio = exp(logp - logp_old)`` and k3 = ``exp(ref - logp) - (ref - logp) - 1`` (Schulman's
    unbiased, positive estimator of KL(pi || ref) on the policy's own samples). Returns the
    per-token loss ``(N,)`` and per-token diagnostics (``kl``, ``clipped``).
    """
    import torch

    ratio = torch.exp(logprobs - old_logprobs)
    clipped_ratio = ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    objective = torch.minimum(ratio * advantages, clipped_ratio * advantages)
    loss = -objective
    stats = {"clipped": (ratio != clipped_ratio).float()}
    if reference_logprobs is not None:
        delta = reference_logprobs - logprobs
        kl = torch.exp(delta) - delta - 1.0
        loss = loss + beta * kl
        stats["kl"] = kl.detach()
    return loss, stats


def kl_full(first: Any, second: Any) -> Any:
    """KL(first || second) per row, over the whole vocabulary, from log-distributions ``(N, V)``.

    Tokens that ``first`` gives no mass (suppressed, at -inf) add nothing.
    """
    terms = first.exp() * (first - second)
    return terms.nan_to_num(nan=0.0).sum(dim=-1)


def entropy(distributions: Any) -> Any:
    """The entropy of each row of log-distributions ``(N, V)``, in nats (0 log 0 = 0)."""
    return -(distributions.exp() * distributions).nan_to_num(nan=0.0).sum(dim=-1)
