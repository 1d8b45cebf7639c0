"""Behaviour cloning: supervised warm start of a VLM on oracle episodes.

Each assistant message of an oracle episode becomes one example: the conversation before it
(rendered with the chat template, images expanded by the processor) is the prompt, and the
message's own tokens, up to and including the end-of-turn token, are the only ones the loss
sees. The template is prefix-preserving, so the message's tokens are exactly what rendering
the conversation with and without it adds.

``scripts/warm_start_tiny_vlm.py`` runs this on the tiny VLM and writes the shipped weights.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from iapo_bench.baselines.scripted import OracleAgent
from iapo_bench.models.inputs import encode

__all__ = ["Example", "bc_examples", "clone", "tokenize_example"]

Example = tuple[list[dict[str, Any]], list[np.ndarray]]
"""A conversation ending in the assistant message to learn, and its images."""


def bc_examples(env_ids: Sequence[str], episodes: int, seed: int = 0) -> Iterator[Example]:
    """Oracle episodes on train seeds, cycled over ``env_ids`` and difficulties.

    Yields, for every assistant message, the conversation up to and including it.
    """
    oracle = OracleAgent()
    envs = {env_id: gym.make(env_id, max_turns=4).unwrapped for env_id in env_ids}
    for index in range(episodes):
        env_id = env_ids[index % len(env_ids)]
        env = envs[env_id]
        levels = env.family.difficulties
        obs, info = env.reset(
            seed=seed + index, options={"difficulty": levels[(index // len(env_ids)) % len(levels)]}
        )
        done = False
        while not done:
            action = oracle.act([obs], [info])[0]
            images = list(obs["images"])
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            # The message just taken is the last assistant message of the new history.
            history = info["messages"]
            last = max(i for i, m in enumerate(history) if m["role"] == "assistant")
            yield history[: last + 1], images


def tokenize_example(processor: Any, example: Example) -> dict[str, Any]:
    """Model inputs for one example, with ``labels`` masking all but the message's tokens."""
    conversation, images = example
    prompt = encode(processor, [conversation[:-1]], [images])
    full = encode(processor, [conversation], [images], add_generation_prompt=False)
    start = prompt["input_ids"].shape[1]
    if not bool((full["input_ids"][0, :start] == prompt["input_ids"][0]).all()):
        raise ValueError("the chat template is not prefix-preserving for this conversation")
    # Drop the newline the template writes after <|im_end|>: the model stops at <|im_end|>.
    end = full["input_ids"].shape[1] - 1
    labels = full["input_ids"].clone()
    labels[0, :start] = -100
    labels[0, end:] = -100
    # ``full`` keeps ``mm_token_type_ids``: without it the model falls back to 1-D positions
    # and learns a placement that generation (which has it) never reproduces.
    batch = dict(full)
    batch["labels"] = labels
    return batch


def collate(examples: Sequence[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Tokenized examples (:func:`tokenize_example`) as one left-padded batch.

    Padding carries no label (-100), no attention and no image type; the images' pixels and
    grids are concatenated in row order, as the processor lays out a batch.
    """
    import torch

    width = max(e["input_ids"].shape[1] for e in examples)
    out: dict[str, Any] = {}
    fills = {"input_ids": pad_token_id, "attention_mask": 0, "mm_token_type_ids": 0, "labels": -100}
    for key, fill in fills.items():
        rows = []
        for example in examples:
            row = example[key][0]
            rows.append(torch.cat([torch.full((width - len(row),), fill, dtype=row.dtype), row]))
        out[key] = torch.stack(rows)
    if any("pixel_values" in e for e in examples):
        out["pixel_values"] = torch.cat(
            [e["pixel_values"] for e in examples if "pixel_values" in e]
        )
        out["image_grid_thw"] = torch.cat(
            [e["image_grid_thw"] for e in examples if "image_grid_thw" in e]
        )
    return out


def _loss(model: Any, batch: dict[str, Any]) -> Any:
    """The mean negative log-likelihood of the labelled tokens (the model's own loss).

    Scored through :func:`~iapo_bench.models.logprobs.selected_logits`: the examples' shared
    system prompt runs once a batch and the output layer only where a label is.
    """
    import torch

    from iapo_bench.models.logprobs import selected_logits

    labels = batch.pop("labels")
    before = torch.zeros_like(labels, dtype=torch.bool)
    before[:, :-1] = labels[:, 1:] != -100  # the logit at t predicts the token at t + 1
    logits = selected_logits(model, batch, before).float()
    return torch.nn.functional.cross_entropy(logits, labels[:, 1:][before[:, :-1]])


def clone(
    model: Any,
    processor: Any,
    examples: Sequence[Example],
    epochs: int = 1,
    learning_rate: float = 3e-3,
    seed: int = 0,
    log_every: int = 100,
    batch_size: int = 1,
) -> list[float]:
    """Train ``model`` on ``examples`` with AdamW, ``batch_size`` examples a step; the losses.

    A batch's loss is the mean over its labelled tokens (every token weighs alike). The
    shipped tiny VLM was trained one example a step.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    torch.manual_seed(seed)
    order = list(range(len(examples)))
    tokenized = [tokenize_example(processor, e) for e in examples]
    per_epoch = -(-len(tokenized) // batch_size)
    steps = epochs * per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps)
    device = next(model.parameters()).device
    pad = processor.tokenizer.pad_token_id
    model.train()
    losses = []
    shuffle = random.Random(seed)
    for _ in range(epochs):
        shuffle.shuffle(order)
        for start in range(0, len(order), batch_size):
            chosen = [tokenized[i] for i in order[start : start + batch_size]]
            batch = chosen[0] if len(chosen) == 1 else collate(chosen, pad)
            loss = _loss(model, {k: v.to(device) for k, v in batch.items()})
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if log_every and len(losses) % log_every == 0:
                recent = losses[-log_every:]
                print(f"step {len(losses)}/{steps}: loss {sum(recent) / len(recent):.3f}")
    model.eval()
    return losses
