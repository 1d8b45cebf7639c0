"""IAPO's attribution reward: where in its input the policy's first decision came from.

The model side (:mod:`iapo_bench.models.attribution`) attributes a decision to the prompt's
blocks; here the block scores become distributions and a penalty (DESIGN.md, "The method in
one page"):

- p: the student's block distribution p_b = (s_b + eps) / sum(s + eps);
- q: the teacher's, from teacher-forcing the student's own decision through the teacher
  (gradients with respect to the teacher's input embeddings, never its weights). Teacher and
  student may differ in width, depth and tokenizer: each model splits the same messages into
  the same named blocks with its own tokens, and the teacher scores the decision's text
  (the student's ids decoded) with its own tokenizer, or the very ids when both share one;
- D = KL(q || p) (``direction="reverse"`` gives KL(p || q)); the reward term is -lambda * D.

Rubric components (all group rewards: the G trajectories of one prompt are attributed in
one batch). Each attributes the first decision, the tool call or the answer when no tool is
called, so the penalty cannot be dodged by not calling tools; the first-turn prompt is
rebuilt as the env builds it, from the task and the tool schemas the env showed (the
``tools=`` context: the env's ``info["tools"]``, and ``prompt_style=``: its
``info["prompt_style"]``, which Bars sets to ``"compact"``).

- :class:`IAPOReward` (context ``policy=``, ``teacher=``, ``tools=``, ``prompt_style=``):
  value -lambda * D, and the metrics ``D``, ``p.<block>``, ``q.<block>``,
  ``completeness.student`` and ``completeness.teacher``. Use it with weight 1: lambda is the
  config's.
- :class:`EvidenceShare` (``policy=``, ``tools=``, ``prompt_style=``; no teacher): the share
  of the image's attribution that falls on the task's evidence regions, with ``area`` (the
  share a model that looks everywhere alike would get) beside it.
- :class:`MaskedImageKL` (``policy=``, ``tools=``, ``prompt_style=``): PAPO's signal as a
  reward, the mean per-token KL between the policy on the image and on a patch-masked copy.

``policy`` and ``teacher`` are anything with ``.model`` and ``.processor`` (a
:class:`~iapo_bench.baselines.vlm.TransformersVLMPolicy`) or a ``(model, processor)`` pair.
The trainer, which keeps the student's generated ids, calls :func:`attribution_penalty`
directly; the rubric form re-tokenizes the turn's text (plus the end-of-turn token).
Importing this module needs no torch; calling it needs the ``[train]`` extra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.chat import PromptStyle, first_messages
from iapo_bench.core import Box, Task, Trajectory, evidence_elements
from iapo_bench.models.attribution import (
    Attribution,
    AttributionConfig,
    Decision,
)
from iapo_bench.models.blocks import Prompt

__all__ = [
    "AttributionPenalty",
    "EvidenceShare",
    "IAPOReward",
    "MaskedImageKL",
    "attribution_penalty",
    "evidence_boxes",
    "first_turn_prompt",
    "kl_divergence",
]


class AttributionPenalty(BaseModel):
    """The IAPO penalty of one decision: both block distributions and their divergence."""

    model_config = ConfigDict(frozen=True)

    p: dict[str, float] = Field(description="The student's block distribution.")
    q: dict[str, float] = Field(description="The teacher's block distribution.")
    divergence: float = Field(description="D: KL(q || p), or KL(p || q) when reversed.")
    student: Attribution = Field(description="The student's attribution.")
    teacher: Attribution = Field(description="The teacher's attribution.")

    @property
    def reward(self) -> float:
        """The reward term -lambda * D (lambda: the config's ``penalty_weight``)."""
        return -self.student.config.penalty_weight * self.divergence


def kl_divergence(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """KL(first || second) over the same blocks, in nats (0 log 0 = 0).

    >>> round(kl_divergence({"P": 0.5, "I": 0.5}, {"P": 0.25, "I": 0.75}), 4)
    0.1438
    """
    if set(first) != set(second):
        raise ValueError(f"different block sets: {sorted(first)} and {sorted(second)}")
    return sum(value * math.log(value / second[name]) for name, value in first.items() if value > 0)


def _model_and_processor(scorer: Any) -> tuple[Any, Any]:
    if isinstance(scorer, tuple) and len(scorer) == 2:
        return scorer
    if hasattr(scorer, "model") and hasattr(scorer, "processor"):
        return scorer.model, scorer.processor
    raise TypeError(
        "a policy or teacher must have .model and .processor or be a (model, processor) pair, "
        f"got {type(scorer).__name__}"
    )


def _same_tokenizer(first: Any, second: Any) -> bool:
    return first is second or first.get_vocab() == second.get_vocab()


def attribution_penalty(
    student: Any,
    teacher: Any,
    prompts: Sequence[Prompt],
    decisions: Sequence[Decision],
    config: AttributionConfig | None = None,
) -> list[AttributionPenalty]:
    """p, q and D for each (prompt, decision) pair, the student's decision forced on both.

    ``decisions`` are the student's: its generated token ids (never re-tokenized for the
    student) or text. The teacher gets the same ids when it shares the student's tokenizer,
    else their text (decoded with special tokens kept), encoded by its own tokenizer.
    """
    from iapo_bench.models.attribution import attribute

    config = config or AttributionConfig()
    student_model, student_processor = _model_and_processor(student)
    teacher_model, teacher_processor = _model_and_processor(teacher)
    student_tokenizer = student_processor.tokenizer
    if _same_tokenizer(student_tokenizer, teacher_processor.tokenizer):
        teacher_decisions = list(decisions)
    else:
        teacher_decisions = [
            d if isinstance(d, str) else student_tokenizer.decode(list(d)) for d in decisions
        ]
    mine = attribute(student_model, student_processor, prompts, decisions, config)
    theirs = attribute(teacher_model, teacher_processor, prompts, teacher_decisions, config)
    out = []
    for student_attribution, teacher_attribution in zip(mine, theirs, strict=True):
        p, q = student_attribution.distribution(), teacher_attribution.distribution()
        divergence = kl_divergence(q, p) if config.direction == "forward" else kl_divergence(p, q)
        out.append(
            AttributionPenalty(
                p=p,
                q=q,
                divergence=divergence,
                student=student_attribution,
                teacher=teacher_attribution,
            )
        )
    return out


def evidence_boxes(task: Task) -> tuple[Box, ...]:
    """The pixel boxes of the marks and labels the task's answer depends on.

    :func:`iapo_bench.core.evidence_elements`' boxes: the regions the evidence share counts.
    """
    return tuple(e.box for e in evidence_elements(task))


def first_turn_prompt(
    task: Task, tools: Sequence[Mapping[str, Any]], style: PromptStyle = "full"
) -> Prompt:
    """The prompt of the episode's first decision, as the env builds it, with the evidence.

    ``tools`` are the schemas the env showed (its ``info["tools"]``) and ``style`` how it
    listed them (its ``info["prompt_style"]``): the env picks them per task, and rewards may
    not import envs to ask it.
    """
    messages = first_messages(task.question, tools, style)
    return Prompt(messages=messages, images=(task.image,), evidence=evidence_boxes(task))


def _first_decisions(trajectories: Sequence[Trajectory], tokenizer: Any) -> list[list[int]]:
    """Each trajectory's first message as the model's tokens, ending with end-of-turn."""
    return [
        tokenizer(t.turns[0].text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        for t in trajectories
    ]


def _require(name: str, value: Any) -> Any:
    if value is None:
        raise ValueError(f"this reward needs the {name}= context (see its docstring)")
    return value


class IAPOReward:
    """IAPO's reward term -lambda * D for the first decision, as a rubric group reward.

    Context: ``policy`` (the student), ``teacher``, ``tools`` (the env's tool schemas) and
    ``prompt_style`` (the env's ``info["prompt_style"]``; ``"full"`` when not given).
    Abstains on a trajectory with no turns. Metrics: ``D``, ``p.<block>``, ``q.<block>``,
    ``completeness.student``, ``completeness.teacher``.

    Example: ``Rubric({"relaxed_accuracy": (relaxed_accuracy, 1.0), "iapo": (IAPOReward(),
    1.0)}).score_group(trajectories, task, policy=student, teacher=teacher,
    tools=info["tools"], prompt_style=info["prompt_style"])``.
    """

    group = True

    def __init__(self, config: AttributionConfig | None = None) -> None:
        self.config = config or AttributionConfig()

    def __call__(
        self,
        trajectories: Sequence[Trajectory],
        task: Task,
        *,
        policy: Any = None,
        teacher: Any = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        prompt_style: PromptStyle = "full",
    ) -> list[dict[str, float] | None]:
        """One component dict per trajectory (None for one with no turns)."""
        student = _require("policy", policy)
        _require("teacher", teacher)
        prompt = first_turn_prompt(task, _require("tools", tools), prompt_style)
        played = [t for t in trajectories if t.turns]
        decisions = _first_decisions(played, _model_and_processor(student)[1].tokenizer)
        penalties = iter(
            attribution_penalty(student, teacher, [prompt] * len(played), decisions, self.config)
        )
        out: list[dict[str, float] | None] = []
        for trajectory in trajectories:
            if not trajectory.turns:
                out.append(None)
                continue
            penalty = next(penalties)
            out.append(
                {
                    "value": penalty.reward,
                    "D": penalty.divergence,
                    **{f"p.{name}": value for name, value in penalty.p.items()},
                    **{f"q.{name}": value for name, value in penalty.q.items()},
                    "completeness.student": penalty.student.completeness_error,
                    "completeness.teacher": penalty.teacher.completeness_error,
                }
            )
        return out


class EvidenceShare:
    """Did the model look at the evidence? The image attribution's share on evidence regions.

    Teacher-free, for any model: the first decision's attribution over the first image's
    tokens, the share (of sum |a_j|) in the cells that overlap the task's evidence regions
    (:func:`evidence_boxes`). Metrics: ``area`` (the cells' share of the image: the value
    of a model that looks everywhere alike) and ``completeness``. Abstains without evidence
    regions or turns. Context: ``policy`` and ``tools``.
    """

    group = True

    def __init__(self, config: AttributionConfig | None = None) -> None:
        self.config = config or AttributionConfig()
        if self.config.method == "occlusion":
            raise ValueError(
                "the evidence share needs per-token scores: use 'ig' or 'grad_x_input'"
            )

    def __call__(
        self,
        trajectories: Sequence[Trajectory],
        task: Task,
        *,
        policy: Any = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        prompt_style: PromptStyle = "full",
    ) -> list[dict[str, float | None] | None]:
        """One component dict per trajectory (None when it cannot be measured)."""
        from iapo_bench.models.attribution import attribute

        model, processor = _model_and_processor(_require("policy", policy))
        prompt = first_turn_prompt(task, _require("tools", tools), prompt_style)
        played = [t for t in trajectories if t.turns]
        if not prompt.evidence or not played:
            return [None] * len(trajectories)
        decisions = _first_decisions(played, processor.tokenizer)
        results = iter(attribute(model, processor, [prompt] * len(played), decisions, self.config))
        out: list[dict[str, float | None] | None] = []
        for trajectory in trajectories:
            if not trajectory.turns:
                out.append(None)
                continue
            result = next(results)
            out.append(
                {
                    "value": result.evidence_share,
                    "area": result.evidence_area,
                    "completeness": result.completeness_error,
                }
            )
        return out


class MaskedImageKL:
    """PAPO's signal as a reward: the mean per-token KL, image vs patch-masked image.

    The first decision's tokens under the policy given the task's image and given a copy
    with ``mask_ratio`` of its patches blackened (:func:`iapo_bench.models.papo.masked_image_kl`,
    seeded by the task's seed). Higher means the decision depends more on the image. Context:
    ``policy`` and ``tools``. Abstains on a trajectory with no turns.
    """

    group = True

    def __init__(self, mask_ratio: float = 0.6) -> None:
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"mask ratio must be in [0, 1], got {mask_ratio}")
        self.mask_ratio = mask_ratio

    def __call__(
        self,
        trajectories: Sequence[Trajectory],
        task: Task,
        *,
        policy: Any = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        prompt_style: PromptStyle = "full",
    ) -> list[float | None]:
        """One value per trajectory (None for one with no turns)."""
        import torch

        from iapo_bench.models.papo import masked_image_kl

        model, processor = _model_and_processor(_require("policy", policy))
        prompt = first_turn_prompt(task, _require("tools", tools), prompt_style)
        played = [t for t in trajectories if t.turns]
        if not played:
            return [None] * len(trajectories)
        decisions = _first_decisions(played, processor.tokenizer)
        with torch.no_grad():
            kls = iter(
                masked_image_kl(
                    model,
                    processor,
                    [prompt] * len(played),
                    decisions,
                    mask_ratio=self.mask_ratio,
                    seed=task.seed,
                )
            )
        return [float(next(kls).mean()) if t.turns else None for t in trajectories]
