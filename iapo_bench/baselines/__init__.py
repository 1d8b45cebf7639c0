"""Policies: the :class:`Policy` contract and the scripted baselines.

Model policies: a transformers VLM (:mod:`~iapo_bench.baselines.vlm`, the warm-started tiny
VLM among them) and any OpenAI-compatible endpoint (:mod:`~iapo_bench.baselines.endpoint`;
what goes over the wire is :mod:`~iapo_bench.baselines.wire`).
:func:`make_agent` builds any of them from a name (:mod:`~iapo_bench.baselines.registry`).
"""

from iapo_bench.baselines.base import Policy
from iapo_bench.baselines.endpoint import EndpointPolicy, Usage
from iapo_bench.baselines.heuristic import HeuristicAgent
from iapo_bench.baselines.registry import check_agent_spec, make_agent
from iapo_bench.baselines.scripted import AGENTS, NoToolAgent, OracleAgent, RandomAgent
from iapo_bench.baselines.vlm import Generation, TransformersVLMPolicy

__all__ = [
    "AGENTS",
    "EndpointPolicy",
    "Generation",
    "HeuristicAgent",
    "NoToolAgent",
    "OracleAgent",
    "Policy",
    "RandomAgent",
    "TransformersVLMPolicy",
    "Usage",
    "check_agent_spec",
    "make_agent",
]
