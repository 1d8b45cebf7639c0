"""Rewards: outcome rewards, tool-use process signals, the LLM judge and the rubric.

- :mod:`~iapo_bench.rewards.match`: exact match, relaxed accuracy, ANLS, multiple choice,
  list F1, and the normalisation they share.
- :mod:`~iapo_bench.rewards.process`: format validity, tool-call and success rates, parse
  error counts, turns, the execution penalty, the right-tool signal.
- :mod:`~iapo_bench.rewards.judge`: the LLM judge (an OpenAI-compatible endpoint or a local
  transformers model), cached, with a flagged exact-match fallback.
- :mod:`~iapo_bench.rewards.rubric`: :class:`Rubric`, named and weighted rewards, every
  component reported; group rewards for GRPO.
- :mod:`~iapo_bench.rewards.trl`: the exact-match family as TRL ``reward_funcs``.
- :mod:`~iapo_bench.rewards.attribution`: IAPO's attribution penalty (teacher vs student
  block distributions), the evidence share and PAPO's masked-image KL, as rubric components
  (model-aware: calling them needs the ``[train]`` extra; importing them does not).
"""

from iapo_bench.rewards.attribution import (
    EvidenceShare,
    IAPOReward,
    MaskedImageKL,
    attribution_penalty,
)
from iapo_bench.rewards.match import (
    anls,
    exact_match,
    list_f1,
    match_text,
    multiple_choice,
    normalize_text,
    parse_date,
    parse_number,
    relaxed_accuracy,
)
from iapo_bench.rewards.process import (
    execution_penalty,
    format_valid,
    parse_errors,
    right_tool,
    tool_call,
    tool_success,
    turns,
)
from iapo_bench.rewards.rubric import REWARDS, GroupReward, Reward, Rubric, shortest_correct
from iapo_bench.rewards.trl import trl_reward

__all__ = [
    "REWARDS",
    "EvidenceShare",
    "GroupReward",
    "IAPOReward",
    "MaskedImageKL",
    "Reward",
    "Rubric",
    "anls",
    "attribution_penalty",
    "exact_match",
    "execution_penalty",
    "format_valid",
    "list_f1",
    "match_text",
    "multiple_choice",
    "normalize_text",
    "parse_date",
    "parse_errors",
    "parse_number",
    "relaxed_accuracy",
    "right_tool",
    "shortest_correct",
    "tool_call",
    "tool_success",
    "trl_reward",
    "turns",
]
