"""Policies: the :class:`Policy` contract and the scripted baselines.

Model policies: the transformers VLM (:mod:`~iapo_bench.baselines.vlm`); the
OpenAI-compatible endpoint and the warm-started tiny VLM join here.
"""

from iapo_bench.baselines.base import Policy
from iapo_bench.baselines.heuristic import HeuristicAgent
from iapo_bench.baselines.scripted import AGENTS, NoToolAgent, OracleAgent, RandomAgent, make_agent
from iapo_bench.baselines.vlm import Generation, TransformersVLMPolicy

__all__ = [
    "AGENTS",
    "Generation",
    "HeuristicAgent",
    "NoToolAgent",
    "OracleAgent",
    "Policy",
    "RandomAgent",
    "TransformersVLMPolicy",
    "make_agent",
]
