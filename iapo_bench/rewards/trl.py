"""The exact-match family as TRL ``reward_funcs``: ``fn(prompts, completions, **columns)``.

TRL's ``GRPOTrainer`` calls each reward function with keyword arguments: ``prompts``,
``completions`` (strings, or lists of chat messages for conversational data),
``completion_ids``, ``trainer_state`` and every other dataset column, one value per
completion. :func:`trl_reward` reads the reference from a column (``answer`` by default)
and its type from another (``answer_type``), finds the completion's answer with the one
action parser, and returns one score per completion (0.0 when it gave no answer).

>>> exact = trl_reward("exact_match")
>>> exact(prompts=["Q"], completions=["It is <answer>1,234.50</answer>"], answer=["1234.5"],
...       answer_type=["number"], completion_ids=[[1, 2]], trainer_state=None)
[1.0]
>>> exact.__name__
'exact_match'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from iapo_bench.core import Answer
from iapo_bench.rewards.match import (
    anls_score,
    choice_score,
    list_f1_score,
    match_text,
    relaxed_score,
)
from iapo_bench.tools.parser import parse_action

__all__ = ["TRL_REWARDS", "trl_reward"]

TrlReward = Callable[..., list[float | None]]

TRL_REWARDS: dict[str, Callable[[str, str, str, Any], float]] = {
    "exact_match": lambda got, want, kind, options: match_text(got, want, kind),
    "relaxed_accuracy": lambda got, want, kind, options: relaxed_score(got, want, kind),
    "anls": lambda got, want, kind, options: anls_score(got, want),
    "multiple_choice": lambda got, want, kind, options: choice_score(got, want, options),
    "list_f1": lambda got, want, kind, options: list_f1_score(got, want),
}
"""The string-level scores :func:`trl_reward` can wrap, by name."""


def _text(completion: Any) -> str:
    """A completion's text: a string, or the content of the last message of a list."""
    if isinstance(completion, str):
        return completion
    content = completion[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def trl_reward(
    name: str = "exact_match",
    answer_column: str = "answer",
    type_column: str = "answer_type",
    options_column: str = "options",
) -> TrlReward:
    """A TRL reward function scoring each completion's answer with the named score."""
    if name not in TRL_REWARDS:
        raise ValueError(f"unknown reward {name!r}; known: {', '.join(TRL_REWARDS)}")
    score = TRL_REWARDS[name]

    def reward(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list:
        if answer_column not in columns:
            raise KeyError(
                f"reward {name!r} needs the dataset column {answer_column!r} (the reference "
                f"answer); columns given: {sorted(columns)}"
            )
        count = len(completions)
        answers = columns[answer_column]
        kinds = columns.get(type_column) or ["text"] * count
        options = columns.get(options_column) or [None] * count
        scores: list[float | None] = []
        for completion, want, kind, choices in zip(
            completions, answers, kinds, options, strict=True
        ):
            action = parse_action(_text(completion), {})  # only an answer counts here
            scores.append(
                score(action.text, want, kind, choices) if isinstance(action, Answer) else 0.0
            )
        return scores

    reward.__name__ = name  # TRL logs each reward under its function's name
    reward.__qualname__ = name
    return reward
