"""Rewards: outcome rewards and the rubric that combines them.

See :mod:`iapo_bench.rewards.match` and :mod:`iapo_bench.rewards.rubric`.
"""

from iapo_bench.rewards.match import exact_match, normalize_text, parse_number, relaxed_accuracy
from iapo_bench.rewards.rubric import REWARDS, Reward, Rubric

__all__ = [
    "REWARDS",
    "Reward",
    "Rubric",
    "exact_match",
    "normalize_text",
    "parse_number",
    "relaxed_accuracy",
]
