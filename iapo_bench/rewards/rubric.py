"""Rewards and the :class:`Rubric` that combines them with weights.

A reward is a callable ``(trajectory, task) -> float | None``; ``None`` abstains (it is left
out of the weighted sum and reported as missing). A reward may also return a mapping: its
``"value"`` is the reward and every other key is reported as the metric
``"<name>.<key>"`` (the LLM judge reports ``llm_judge.fallback`` so). Model-aware rewards
take extra keyword inputs (the policy, a teacher): :meth:`Rubric.score` passes each reward
the keyword context its signature names, with no special cases. A group reward
(:class:`GroupReward`) sees all G trajectories of one prompt at once, as GRPO does.

A reward that cannot be computed for a reason outside the model being scored (the judge's
endpoint down) still returns a value (a flagged fallback) but reports the metric
``"unavailable": 1.0`` beside it; :func:`unavailable` names such rewards in a component dict,
and the harness records those episodes as infrastructure errors, out of the score.

A rubric reports every component, so a weight of 0 makes a reward a metric only. Rubrics
are built in code or from a spec string such as ``"relaxed_accuracy:1,format_valid:0.1"``
naming rewards of :data:`REWARDS` (``llm_judge`` is built from the environment, see
:func:`iapo_bench.rewards.judge.judge_from_env`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from iapo_bench.core import Task, Trajectory
from iapo_bench.rewards import match, process

__all__ = [
    "REWARDS",
    "UNAVAILABLE",
    "GroupReward",
    "Reward",
    "Rubric",
    "shortest_correct",
    "unavailable",
]

Reward = Callable[..., Any]
"""A reward: ``(trajectory, task, **context) -> float | None | Mapping[str, float | None]``."""

UNAVAILABLE = "unavailable"
"""The metric a reward reports as 1.0 when a service outside the model failed it."""


def unavailable(components: Mapping[str, float | None]) -> list[str]:
    """The rewards whose ``<name>.unavailable`` metric is set: scored without their service.

    >>> unavailable({"llm_judge": 0.0, "llm_judge.unavailable": 1.0, "exact_match": 0.0})
    ['llm_judge']
    """
    suffix = f".{UNAVAILABLE}"
    return [
        key.removesuffix(suffix)
        for key, value in components.items()
        if key.endswith(suffix) and value
    ]


@runtime_checkable
class GroupReward(Protocol):
    """A reward over the G trajectories of one prompt: one value (or None) per trajectory."""

    group: bool
    """Always True: marks a group reward."""

    def __call__(
        self, trajectories: Sequence[Trajectory], task: Task, **context: Any
    ) -> list[float | None]:
        """One value per trajectory, in order."""
        ...


class _ShortestCorrect:
    """1.0 for the correct trajectories that took the fewest turns in their group, else 0.0.

    A group-relative efficiency bonus: it never pays a wrong answer, and abstains for a
    group with no correct answer. Correct means :func:`~iapo_bench.rewards.match.exact_match`.
    """

    group = True

    def __call__(
        self, trajectories: Sequence[Trajectory], task: Task, **context: Any
    ) -> list[float | None]:
        correct = [match.exact_match(t, task) == 1.0 for t in trajectories]
        if not any(correct):
            return [None] * len(trajectories)
        fewest = min(len(t.turns) for t, ok in zip(trajectories, correct, strict=True) if ok)
        return [
            float(ok and len(t.turns) == fewest)
            for t, ok in zip(trajectories, correct, strict=True)
        ]


shortest_correct = _ShortestCorrect()
"""The group reward that pays the shortest correct trajectories (see ``_ShortestCorrect``)."""

REWARDS: dict[str, Reward] = {
    "exact_match": match.exact_match,
    "relaxed_accuracy": match.relaxed_accuracy,
    "anls": match.anls,
    "multiple_choice": match.multiple_choice,
    "list_f1": match.list_f1,
    "vqa_accuracy": match.vqa_accuracy,
    "format_valid": process.format_valid,
    "tool_call": process.tool_call,
    "tool_success": process.tool_success,
    "parse_errors": process.parse_errors,
    **process.PARSE_ERROR_REWARDS,
    "turns": process.turns,
    "execution_penalty": process.execution_penalty,
    "right_tool": process.right_tool,
    "shortest_correct": shortest_correct,
}
"""Rewards a spec string may name (and ``llm_judge``, built when a spec names it)."""


def _build(name: str) -> Reward | None:
    if name in REWARDS:
        return REWARDS[name]
    if name == "llm_judge":
        from iapo_bench.rewards.judge import judge_from_env  # the judge's clients load lazily

        return judge_from_env()
    return None


def _weight_text(weight: float) -> str:
    short = f"{weight:g}"
    return short if float(short) == weight else repr(weight)


def _context_names(reward: Reward) -> set[str] | None:
    """The keyword context a reward takes: None for all (``**kwargs``), else its names."""
    try:
        parameters = list(inspect.signature(reward).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters[2:] if p.kind is not inspect.Parameter.VAR_POSITIONAL}


class Rubric:
    """Named rewards with weights; the total is the weighted sum of the components that vote.

    >>> rubric = Rubric.parse("relaxed_accuracy:1,exact_match:0")
    >>> rubric.spec
    'relaxed_accuracy:1,exact_match:0'
    """

    def __init__(self, rewards: Mapping[str, tuple[Reward, float]]) -> None:
        if not rewards:
            raise ValueError("a rubric needs at least one reward")
        for name, (_, weight) in rewards.items():
            if not math.isfinite(weight):
                raise ValueError(f"weight of {name!r} must be finite, got {weight}")
        self.rewards = dict(rewards)
        self._context = {name: _context_names(reward) for name, (reward, _) in rewards.items()}
        self._closed = False

    @classmethod
    def parse(cls, spec: str) -> Rubric:
        """A rubric from ``"name:weight,name:weight"``; a bare name has weight 1."""
        rewards: dict[str, tuple[Reward, float]] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            name, _, weight_text = item.partition(":")
            name = name.strip()
            reward = _build(name)
            if reward is None:
                known = sorted([*REWARDS, "llm_judge"])
                raise ValueError(f"unknown reward {name!r} in rubric {spec!r}; known: {known}")
            try:
                weight = float(weight_text) if weight_text.strip() else 1.0
            except ValueError:
                raise ValueError(f"weight of {name!r} in rubric {spec!r} is not a number") from None
            if not math.isfinite(weight):
                raise ValueError(f"weight of {name!r} in rubric {spec!r} must be finite")
            if name in rewards:
                raise ValueError(f"reward {name!r} appears twice in rubric {spec!r}")
            rewards[name] = (reward, weight)
        return cls(rewards)

    @property
    def spec(self) -> str:
        """The rubric as a spec string."""
        return ",".join(
            f"{name}:{_weight_text(weight)}" for name, (_, weight) in self.rewards.items()
        )

    def _context_for(self, name: str, context: Mapping[str, Any]) -> dict[str, Any]:
        names = self._context[name]
        return dict(context) if names is None else {k: v for k, v in context.items() if k in names}

    def score(
        self, trajectory: Trajectory, task: Task, **context: Any
    ) -> tuple[float, dict[str, float | None]]:
        """The total and every component by name (a group reward sees a group of one)."""
        return self.score_group([trajectory], task, **context)[0]

    def score_group(
        self, trajectories: Sequence[Trajectory], task: Task, **context: Any
    ) -> list[tuple[float, dict[str, float | None]]]:
        """Total and components of each of the G trajectories of one prompt."""
        columns: dict[str, list[Any]] = {}
        for name, (reward, _) in self.rewards.items():
            extra = self._context_for(name, context)
            if isinstance(reward, GroupReward):
                values = list(reward(trajectories, task, **extra))
                if len(values) != len(trajectories):
                    raise ValueError(f"group reward {name!r} returned {len(values)} values")
                columns[name] = values
            else:
                columns[name] = [reward(t, task, **extra) for t in trajectories]
        results = []
        for i in range(len(trajectories)):
            total, components = 0.0, {}
            for name, (_, weight) in self.rewards.items():
                value = columns[name][i]
                if isinstance(value, Mapping):  # a value with metrics beside it
                    for key, metric in value.items():
                        if key != "value":
                            components[f"{name}.{key}"] = _number(metric)
                    value = value.get("value")
                components[name] = _number(value)
                if components[name] is not None:
                    total += weight * components[name]
            results.append((float(total), components))
        return results

    @property
    def blocking(self) -> bool:
        """Whether a reward waits on I/O (declares ``blocking = True``, as the LLM judge does).

        Scoring such a rubric mostly waits, so a caller may score many episodes at once from
        threads (the harness steps a batch's envs concurrently) and their requests overlap.
        """
        return any(getattr(reward, "blocking", False) for reward, _ in self.rewards.values())

    def close(self) -> None:
        """Close every reward that has a ``close()`` (the LLM judge: its loop, client, cache).

        A shared judge (:func:`~iapo_bench.rewards.judge.judge_from_env`) is released rather
        than closed: the last release closes it. Safe to repeat: only the first call closes.
        """
        if self._closed:
            return
        self._closed = True
        closed: set[int] = set()
        for reward, _ in self.rewards.values():
            close = getattr(reward, "close", None)
            if callable(close) and id(reward) not in closed:
                closed.add(id(reward))
                close()

    def __repr__(self) -> str:
        return f"Rubric({self.spec!r})"


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
