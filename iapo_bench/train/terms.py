"""The model-aware terms of the methods: TRM's judge scores and IAPO's attribution penalty.

Both score a rollout's first decision (the tool call, or the answer when no tool was called,
so a penalty cannot be dodged by not calling tools), after the rollouts are played and before
the advantages are computed.

- :func:`make_trm_judge` / :func:`trm_scores`: the tool process reward model: the LLM judge
  with the ``tool_call`` template, scored by a local model (the teacher by default), asked
  whether each first tool call is a sound step; an answer without a call scores 0. It reads
  the question and the call as text: a text-only judge, as a process reward model is.
- :func:`attribution_penalties`: IAPO's p, q and D of each first decision, the student's
  own generated ids forced on both models
  (:func:`~iapo_bench.rewards.attribution.attribution_penalty`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from iapo_bench.core import ToolCall
from iapo_bench.envs.family import load_task
from iapo_bench.models.attribution import AttributionConfig
from iapo_bench.models.blocks import Prompt
from iapo_bench.rewards.attribution import AttributionPenalty, attribution_penalty, evidence_boxes
from iapo_bench.tools.parser import format_tool_call

__all__ = ["attribution_penalties", "make_trm_judge", "trm_scores"]


def make_trm_judge(model: Any, processor: Any, name: str) -> Any:
    """The TRM judge: :class:`LLMJudge` with the ``tool_call`` template over a local model.

    The judge reads text only (the question and the call, as the template gives them), as a
    tool process reward model does; it does not see the image. A local model is never
    unreachable, so the judge has no timeout and no retries: any failure is a bug, raised.
    """
    from iapo_bench.rewards.judge import LLMJudge, TransformersJudge

    backend = TransformersJudge(model, processor.tokenizer, name=name)
    return LLMJudge(backend, template="tool_call", cache_path=False, timeout=1e9, retries=0)


def trm_scores(judge: Any, rollouts: Sequence[Any]) -> list[float]:
    """The judge's score of each rollout's first tool call (its probability of YES); 0 without."""
    from iapo_bench.rewards.judge import JudgeInput

    asked: dict[int, Any] = {}
    for i, rollout in enumerate(rollouts):
        first = rollout.trajectory.turns[0].action if rollout.trajectory.turns else None
        if isinstance(first, ToolCall):
            call = (
                format_tool_call(first).removeprefix("<tool_call>\n").removesuffix("\n</tool_call>")
            )
            question = load_task(rollout.task_id).question
            asked[i] = JudgeInput(question=question, reference="", prediction=call)
    scores = [0.0] * len(rollouts)
    for i, verdict in zip(asked, judge.verdicts(list(asked.values())), strict=True):
        if verdict.fallback:  # never a silent 0: the reward would be the judge's failure
            raise RuntimeError(f"the TRM judge could not score a tool call: {verdict.error}")
        scores[i] = verdict.score
    return scores


def first_prompt(rollout: Any) -> Prompt:
    """The prompt of a rollout's first decision, with the task's evidence regions."""
    task = load_task(rollout.task_id)
    return Prompt(
        messages=rollout.first_messages, images=(rollout.images[0],), evidence=evidence_boxes(task)
    )


def attribution_penalties(
    policy: Any,
    processor: Any,
    teacher: Any,
    teacher_processor: Any,
    rollouts: Sequence[Any],
    config: AttributionConfig,
) -> list[AttributionPenalty]:
    """IAPO's penalty of each rollout's first decision: the student's ids, forced on both models.

    A group's rollouts share their prompt and often their first decision (a tool call the
    policy is sure of); each distinct (task, decision) pair is attributed once.
    """
    keys = [(r.task_id, tuple(r.first_decision)) for r in rollouts]
    unique = list(dict.fromkeys(keys))
    first = {key: keys.index(key) for key in unique}
    chosen = [rollouts[first[key]] for key in unique]
    penalties = attribution_penalty(
        (policy, processor),
        (teacher, teacher_processor),
        [first_prompt(r) for r in chosen],
        [r.first_decision for r in chosen],
        config,
    )
    by_key = dict(zip(unique, penalties, strict=True))
    return [by_key[key] for key in keys]
