"""Rollouts for the trainer: G samples per prompt, multi-turn, token-in/token-out.

A rollout is one episode of one env, kept as the token ids the model saw and made:

- the first prompt, rendered once per task by :func:`~iapo_bench.models.inputs.encode`;
- each message the model generated, as the ids it generated (never re-tokenized from its
  text), with the log-probability each was sampled with;
- after each message the env did not end on, the env's answer (a tool result with its
  images, or the feedback on an unreadable message) appended as the chat template renders
  it, through the processor, so its image tokens are expanded to each image's grid.

Every generation packs the rollouts' ids and images with
:func:`~iapo_bench.models.inputs.pack`, which refuses ids whose image tokens do not match their
images: the check runs on every rollout, every turn. Images are the env's own arrays
(:attr:`ToolUseEnv.images`), shared by the G rollouts of a task and processed once per step
(:class:`~iapo_bench.models.inputs.ImageInputs`).

The env parses each message with the one action parser, runs the tools and scores the episode
with its rubric at the end, exactly as in evaluation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from iapo_bench.core import Trajectory
from iapo_bench.envs.env import ToolUseEnv
from iapo_bench.models.generate import sample, sampling_seed
from iapo_bench.models.inputs import ImageInputs, encode, pack, render

__all__ = ["Rollout", "Sampling", "continuation_ids", "play"]


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How messages are sampled."""

    max_new_tokens: int = 96
    """Tokens generated per message at most."""
    temperature: float = 1.0
    """Sampling temperature (0: greedy)."""
    top_p: float = 1.0
    """Nucleus sampling mass."""


@dataclasses.dataclass
class Rollout:
    """One episode as token ids, with what the loss and the rewards need."""

    task_id: str
    """The task played."""
    group: int
    """Index of the prompt: the G rollouts of one task share it."""
    env: ToolUseEnv
    """The env the episode runs in."""
    ids: list[int]
    """Every token so far: prompt, generated messages, the env's answers."""
    generated: list[bool]
    """Per token: whether the policy generated it (only those carry loss)."""
    images: list[np.ndarray]
    """The images the ids' image tokens stand for, in order (the env's arrays)."""
    first_messages: list[dict[str, Any]]
    """The chat messages of the first prompt (shared by the G rollouts of a task)."""
    prompt_length: int
    """Tokens of the first prompt; the first decision starts here."""
    first_decision_end: int = -1
    """End (exclusive) of the first generated message: the decision IAPO attributes."""
    done: bool = False
    """Whether the episode ended (answer or turn limit)."""
    reward: float = 0.0
    """The env's rubric total at the end."""
    components: dict[str, float | None] = dataclasses.field(default_factory=dict)
    """Every rubric component at the end."""
    trajectory: Trajectory | None = None
    """The episode, as rewards read it, at the end."""
    turns: int = 0
    """Messages generated."""

    @property
    def first_decision(self) -> list[int]:
        """The first message's generated ids (the tool call, or the answer)."""
        return self.ids[self.prompt_length : self.first_decision_end]

    @property
    def completion_tokens(self) -> int:
        """How many tokens the policy generated in the episode."""
        return sum(self.generated)


def continuation_ids(
    processor: Any, messages: Sequence[dict[str, Any]], images: Sequence[np.ndarray], ended: bool
) -> list[int]:
    """The ids of what follows the last assistant message, through the next generation prompt.

    ``messages`` end with the assistant message the model just generated and the env's answer
    to it; ``images`` are the images that answer adds. Its text is the chat template's
    rendering of the whole conversation past the rendering of everything up to the assistant
    message (the template is prefix-preserving), so it is exactly what a fresh render of the
    conversation holds there. The generated ids stop at the end-of-turn token; ``ended``
    says whether they reached it (else the template's end-of-turn token is added here, not
    generated).
    """
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    prefix = render(processor, messages[: last + 1], add_generation_prompt=False)
    full = render(processor, messages, add_generation_prompt=True)
    end_of_turn = processor.tokenizer.eos_token
    cut = prefix.rfind(end_of_turn)
    if cut < 0 or not full.startswith(prefix):
        raise ValueError("the chat template is not prefix-preserving for this conversation")
    # From the assistant message's end-of-turn token on ("<|im_end|>\n<|im_start|>user..."):
    # the model generated that token itself when it stopped by its own choice.
    tail = full[cut:]
    text = tail[len(end_of_turn) :] if ended else tail
    out = processor(text=[text], images=list(images) or None, add_special_tokens=False)
    return list(np.asarray(out["input_ids"][0]).tolist())


def _start(
    processor: Any, envs: Sequence[ToolUseEnv], task_ids: Sequence[str], group_size: int
) -> list[Rollout]:
    """Reset ``group_size`` envs on each task; the prompt is encoded once per task."""
    if len(envs) < len(task_ids) * group_size:
        raise ValueError(f"{len(envs)} envs for {len(task_ids)} tasks x {group_size} rollouts")
    rollouts = []
    for group, task_id in enumerate(task_ids):
        prompt: list[int] | None = None
        messages: list[dict[str, Any]] = []
        for g in range(group_size):
            env = envs[group * group_size + g]
            _, info = env.reset(options={"task_id": task_id})
            if prompt is None:
                messages = info["messages"]
                batch = encode(processor, [messages], [list(env.images)])
                prompt = batch["input_ids"][0].tolist()
            rollouts.append(
                Rollout(
                    task_id=task_id,
                    group=group,
                    env=env,
                    ids=list(prompt),
                    generated=[False] * len(prompt),
                    images=list(env.images),
                    first_messages=messages,
                    prompt_length=len(prompt),
                )
            )
    return rollouts


def _generate(
    model: Any,
    processor: Any,
    rollouts: Sequence[Rollout],
    image_inputs: ImageInputs,
    sampling: Sampling,
    seed: int,
) -> list[tuple[list[int], list[float] | None, bool]]:
    """One message per rollout: its ids (through the end-of-turn token) and whether it ended."""
    tokenizer = processor.tokenizer
    batch = pack(
        [r.ids for r in rollouts],
        [r.images for r in rollouts],
        image_inputs,
        tokenizer.pad_token_id,
    )
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    return sample(
        model,
        tokenizer,
        batch,
        max_new_tokens=sampling.max_new_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        seed=seed,
    )


def play(
    model: Any,
    processor: Any,
    envs: Sequence[ToolUseEnv],
    task_ids: Sequence[str],
    group_size: int,
    sampling: Sampling,
    seed: int,
    image_inputs: ImageInputs | None = None,
) -> list[Rollout]:
    """Play ``group_size`` episodes of each task with ``model``, all in flight at once.

    Turn by turn, one batched ``generate`` over the live rollouts; each message is stepped
    through its env, and the env's answer appended as ids, until every episode ends. Sampling
    is seeded by ``seed`` and the turn, so a step's rollouts are reproducible.
    """
    image_inputs = image_inputs or ImageInputs(processor)
    tokenizer = processor.tokenizer
    rollouts = _start(processor, envs, task_ids, group_size)
    turn = 0
    while live := [r for r in rollouts if not r.done]:
        generated = _generate(
            model, processor, live, image_inputs, sampling, sampling_seed(seed, turn)
        )
        for rollout, (ids, _, ended) in zip(live, generated, strict=True):
            rollout.ids += ids
            rollout.generated += [True] * len(ids)
            rollout.turns += 1
            if rollout.first_decision_end < 0:
                rollout.first_decision_end = len(rollout.ids)
            text = tokenizer.decode(ids, skip_special_tokens=True)
            _, reward, terminated, truncated, info = rollout.env.step(text)
            if terminated or truncated:
                rollout.done = True
                rollout.reward = float(reward)
                rollout.components = dict(info["rewards"])
                rollout.trajectory = info["trajectory"]
                continue
            images = list(rollout.env.images)
            added = images[len(rollout.images) :]
            more = continuation_ids(processor, info["messages"], added, ended)
            rollout.ids += more
            rollout.generated += [False] * len(more)
            rollout.images = images
        turn += 1
    return rollouts
