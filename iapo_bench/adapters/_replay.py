"""A rollout scored as the env scores it: its assistant messages replayed through an env.

Shared by the TRL and verifiers adapters. Their frameworks run every tool call of an
assistant message (the model sees every result), while the env reads one action a message:
a message with several calls is one ``several_actions`` parse error, and it takes one turn.
So a rollout is scored after the fact: a fresh episode on its task, each assistant message
stepped as one action (as :class:`~iapo_bench.baselines.endpoint.EndpointPolicy` sends a
reply to the env), and the rubric's total and components are the env's for those messages.
Every env is deterministic, so this is what evaluation gives the same messages.

- :func:`make_env`: an env of an id that can play a task (a file task's env reads its files).
- :func:`actions`: a conversation's assistant messages as the env's text actions.
- :func:`replay`: those actions stepped through an env reset on the task; a :class:`Score`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import gymnasium as gym

from iapo_bench.core import Trajectory
from iapo_bench.envs import load_task
from iapo_bench.envs.family import get_source, is_file_version, parse_task_id
from iapo_bench.wire import action_from_reply

__all__ = ["Score", "actions", "make_env", "replay"]


class Score(NamedTuple):
    """A rollout's reward: the rubric's total and every component (None where one abstained)."""

    total: float
    """The rubric's weighted total: the reward."""
    components: dict[str, float | None]
    """Each reward of the rubric by name, weight-0 metrics included."""


def make_env(env_id: str, task_id: str, *, max_turns: int, rubric: str | None) -> gym.Env:
    """A new env of ``env_id`` that can play ``task_id`` (not reset; close it when done).

    A task from files needs the env of its files' source (the one that opened them, found by
    the version its id carries); a generated task plays in the plain env.
    """
    family, version, *_ = parse_task_id(task_id)
    source = get_source(family, version) if is_file_version(version) else None
    return gym.make(env_id, max_turns=max_turns, rubric=rubric, source=source)


def _text(content: Any) -> str:
    """A message's text: the string, or its text parts joined (OpenAI's list form)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content or () if part.get("type") == "text")


def actions(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """The text action of each assistant message of an OpenAI-format conversation, in order.

    Other roles (tool results, user turns) are skipped. A message's native tool calls become
    ``<tool_call>`` blocks after its text (:func:`~iapo_bench.wire.action_from_reply`), so
    a message with two calls reads as two actions, which the env reports as one
    ``several_actions`` parse error.

    >>> call = {"function": {"name": "zoom", "arguments": {"box": [0, 0, 8, 8]}}}
    >>> print(actions([
    ...     {"role": "assistant", "content": "Look.", "tool_calls": [call]},
    ...     {"role": "tool", "content": "Zoomed."},
    ...     {"role": "assistant", "content": [{"type": "text", "text": "<answer>7</answer>"}]},
    ... ])[1])
    <answer>7</answer>
    """
    return [
        action_from_reply(
            {"content": _text(message.get("content")), "tool_calls": message.get("tool_calls")}
        )
        for message in messages
        if message.get("role") == "assistant"
    ]


def replay(env: gym.Env, task_id: str, texts: Sequence[str]) -> Score:
    """The rubric's score of ``texts`` (one action each) played on ``task_id`` in ``env``.

    ``env`` is reset on the task first (a fresh episode: what it played before does not
    count) and is left at the end of the replay. Actions past the end of the episode (an
    answer, or ``max_turns`` messages) are ignored; an episode that runs out of actions is
    scored as truncated, as the env scores one that runs out of turns.
    """
    env.reset(options={"task_id": task_id})
    for text in texts:
        _, reward, terminated, truncated, info = env.step(text)
        if terminated or truncated:
            return Score(float(reward), dict(info["rewards"]))
    inner = env.unwrapped
    trajectory = Trajectory(task_id=task_id, turns=inner.trajectory.turns, truncated=True)
    total, components = inner.rubric.score(trajectory, load_task(task_id))
    return Score(float(total), dict(components))
