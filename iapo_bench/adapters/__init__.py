"""Thin bridges to training and evaluation frameworks; each module needs its extra.

- :mod:`iapo_bench.adapters.trl`: TRL's ``GRPOTrainer(environment_factory=...)`` on any env
  id: prompt datasets, environment classes whose methods are the env's tools, the rubric and
  IAPO's attribution penalty as reward functions (the ``[train]`` extra).
- :mod:`iapo_bench.adapters.verifiers`: a verifiers v1 taskset, its tasks and MCP tool
  server, scored by the env's rubric (the ``[verifiers]`` extra).

Nothing is imported here, so ``import iapo_bench.adapters`` needs no extra.
"""
