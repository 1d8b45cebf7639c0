"""Rewards and the :class:`Rubric` that combines them with weights.

A reward is a callable ``(trajectory, task) -> float | None``; ``None`` abstains (it is left
out of the weighted sum and reported as missing). A rubric reports every component, so a
weight of 0 makes a reward a metric only. Rubrics are built in code or from a spec string
such as ``"relaxed_accuracy:1,exact_match:0"`` naming rewards of :data:`REWARDS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from iapo_bench.core import Task, Trajectory
from iapo_bench.rewards.match import exact_match, relaxed_accuracy

__all__ = ["REWARDS", "Reward", "Rubric"]

Reward = Callable[[Trajectory, Task], float | None]
"""A reward: ``(trajectory, task) -> float | None`` (None abstains)."""

REWARDS: dict[str, Reward] = {
    "exact_match": exact_match,
    "relaxed_accuracy": relaxed_accuracy,
}
"""Rewards a spec string may name."""


def _weight_text(weight: float) -> str:
    short = f"{weight:g}"
    return short if float(short) == weight else repr(weight)


class Rubric:
    """Named rewards with weights; the total is the weighted sum of the components that vote.

    >>> rubric = Rubric.parse("relaxed_accuracy:1,exact_match:0")
    >>> rubric.spec
    'relaxed_accuracy:1,exact_match:0'
    """

    def __init__(self, rewards: Mapping[str, tuple[Reward, float]]) -> None:
        if not rewards:
            raise ValueError("a rubric needs at least one reward")
        self.rewards = dict(rewards)

    @classmethod
    def parse(cls, spec: str) -> Rubric:
        """A rubric from ``"name:weight,name:weight"``; a bare name has weight 1."""
        rewards: dict[str, tuple[Reward, float]] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            name, _, weight_text = item.partition(":")
            name = name.strip()
            if name not in REWARDS:
                raise ValueError(
                    f"unknown reward {name!r} in rubric {spec!r}; known: {sorted(REWARDS)}"
                )
            try:
                weight = float(weight_text) if weight_text.strip() else 1.0
            except ValueError:
                raise ValueError(f"weight of {name!r} in rubric {spec!r} is not a number") from None
            if not math.isfinite(weight):
                raise ValueError(f"weight of {name!r} in rubric {spec!r} must be finite")
            if name in rewards:
                raise ValueError(f"reward {name!r} appears twice in rubric {spec!r}")
            rewards[name] = (REWARDS[name], weight)
        return cls(rewards)

    @property
    def spec(self) -> str:
        """The rubric as a spec string."""
        return ",".join(
            f"{name}:{_weight_text(weight)}" for name, (_, weight) in self.rewards.items()
        )

    def score(self, trajectory: Trajectory, task: Task) -> tuple[float, dict[str, float | None]]:
        """The total and every component by name."""
        components = {name: reward(trajectory, task) for name, (reward, _) in self.rewards.items()}
        total = sum(
            weight * value
            for (_, weight), value in zip(self.rewards.values(), components.values(), strict=True)
            if value is not None
        )
        return float(total), components

    def __repr__(self) -> str:
        return f"Rubric({self.spec!r})"
