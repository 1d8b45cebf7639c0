"""Policies: the :class:`Policy` contract and the scripted baselines.

Model policies (transformers VLM, OpenAI-compatible endpoint, the tiny VLM) join here.
"""

from iapo_bench.baselines.base import Policy
from iapo_bench.baselines.heuristic import HeuristicAgent
from iapo_bench.baselines.scripted import AGENTS, NoToolAgent, OracleAgent, RandomAgent, make_agent

__all__ = [
    "AGENTS",
    "HeuristicAgent",
    "NoToolAgent",
    "OracleAgent",
    "Policy",
    "RandomAgent",
    "make_agent",
]
