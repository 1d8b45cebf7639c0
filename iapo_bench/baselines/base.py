"""The policy contract every agent implements, scripted or learned.

A policy maps a batch of observations (and their ``info``) to a batch of messages:
``act(observations, infos) -> list[str | PolicyFailure]``. Batching is the policy's business;
scripted policies loop, model policies generate in one batch. A policy that depends on
something outside the model (an endpoint) returns a :class:`~iapo_bench.core.PolicyFailure`
for a message it could not get: an infrastructure error, which the harness records as such and
never scores as the model's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from iapo_bench.core import PolicyFailure

__all__ = ["Info", "Observation", "Policy", "question_of"]

Observation = dict[str, Any]
"""An env observation: ``{"text": ..., "images": (...)}``."""
Info = dict[str, Any]
"""An env ``info`` dict: task id, turn, messages, tool schemas."""


@runtime_checkable
class Policy(Protocol):
    """Anything that answers a batch of observations with a batch of messages."""

    name: str
    """Short name shown in results (``"oracle"``, ``"qwen2.5-vl-3b"``)."""

    def act(
        self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]
    ) -> list[str | PolicyFailure]:
        """One message per observation, in order (a :class:`PolicyFailure` where one failed)."""
        ...


def question_of(info: Info) -> str:
    """The question of an episode, read from the user message in ``info["messages"]``."""
    user = info["messages"][1]["content"]
    return next(part["text"] for part in user if part["type"] == "text")
