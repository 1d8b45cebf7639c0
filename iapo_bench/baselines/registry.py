"""Agents by name: what ``make_agent`` and ``iapo-bench run -a NAME`` accept.

- A scripted agent: ``oracle``, ``heuristic``, ``no-tool``, ``random``.
- ``tiny-vlm``: the warm-started tiny VLM shipped in the package (the ``[train]`` extra).
- ``hf:PATH``: a local transformers vision-language model folder (a path that does not
  exist is "no such folder"), or a hub id ``org/name`` when online (the ``[train]`` extra),
  run by :class:`~iapo_bench.baselines.vlm.TransformersVLMPolicy`.
- ``blind:SPEC``: any of these with every image blanked (the text-only shortcut).
- ``openai:MODEL@BASE_URL``: a model behind an OpenAI-compatible endpoint (vLLM, SGLang),
  run by :class:`~iapo_bench.baselines.endpoint.EndpointPolicy`; ``openai:MODEL`` is OpenAI's
  own API. The key is read from ``$OPENAI_API_KEY`` (the ``[judge]`` extra).

>>> check_agent_spec("openai:Qwen/Qwen2.5-VL-3B-Instruct@http://localhost:8000/v1")
>>> check_agent_spec("openai:m@localhost:8000")
Traceback (most recent call last):
...
ValueError: agent 'openai:m@localhost:8000': the base URL must start with http:// or https://
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iapo_bench.baselines.scripted import AGENTS, NoToolAgent, RandomAgent
from iapo_bench.baselines.vlm import require_train_extra, tiny_vlm_policy

__all__ = ["MODEL_AGENTS", "check_agent_spec", "make_agent"]

MODEL_AGENTS = {"tiny-vlm": tiny_vlm_policy}
"""Model policies by plain name, built on request (they need the ``[train]`` extra)."""

_FORMS = "hf:PATH (a local transformers VLM), openai:MODEL@BASE_URL (an OpenAI-compatible endpoint)"


def _endpoint(spec: str) -> tuple[str, str | None]:
    """``(model, base_url)`` of an ``openai:`` spec (model names never hold ``@``)."""
    model, _, base_url = spec.removeprefix("openai:").partition("@")
    if not model:
        raise ValueError(f"agent {spec!r}: name the model, as in openai:MODEL@BASE_URL")
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ValueError(f"agent {spec!r}: the base URL must start with http:// or https://")
    if "@" in spec and not base_url:
        raise ValueError(f"agent {spec!r}: give the base URL after '@', or drop the '@'")
    return model, base_url or None


def check_agent_spec(spec: str) -> None:
    """Raise ``ValueError`` naming the problem when ``spec`` names no agent; build nothing."""
    if spec.startswith("blind:"):
        if not spec.removeprefix("blind:"):
            raise ValueError(f"agent {spec!r}: name the agent to blind, as in blind:tiny-vlm")
        check_agent_spec(spec.removeprefix("blind:"))
        return
    if spec in AGENTS or spec in MODEL_AGENTS:
        return
    if spec.startswith("hf:"):
        if not spec.removeprefix("hf:"):
            raise ValueError(f"agent {spec!r}: give the model's folder, as in hf:PATH")
        return
    if spec.startswith("openai:"):
        _endpoint(spec)
        return
    known = ", ".join([*AGENTS, *MODEL_AGENTS])
    raise ValueError(f"unknown agent {spec!r}; known: {known}, or {_FORMS}")


def make_agent(spec: str, seed: int = 0, env_ids: Sequence[str] | None = None) -> Any:
    """The agent ``spec`` names, seeded, prepared for ``env_ids`` (default: every env).

    Raises ``ValueError`` with a message when it cannot be built: an unknown name, a missing
    extra, a model folder that does not load or does not exist.
    """
    check_agent_spec(spec)
    if spec.startswith("blind:"):
        from iapo_bench.baselines.blind import Blind

        return Blind(make_agent(spec.removeprefix("blind:"), seed, env_ids))
    if spec == "no-tool":  # its priors take seconds per family: only those it will answer
        from iapo_bench.envs import family_for_env_id

        names = None if env_ids is None else [family_for_env_id(e).name for e in env_ids]
        return NoToolAgent(names)
    if spec in MODEL_AGENTS:
        return MODEL_AGENTS[spec](seed)
    if spec.startswith("hf:"):
        return _transformers_policy(spec, seed)
    if spec.startswith("openai:"):
        from iapo_bench.baselines.endpoint import EndpointPolicy

        model, base_url = _endpoint(spec)
        try:
            return EndpointPolicy(model, base_url=base_url, seed=seed, name=f"openai:{model}")
        except ImportError as error:
            raise ValueError(f"agent {spec!r}: {error}") from None
    return RandomAgent(seed=seed) if spec == "random" else AGENTS[spec]()


def _transformers_policy(spec: str, seed: int) -> Any:
    from iapo_bench.baselines.vlm import TransformersVLMPolicy

    path = spec.removeprefix("hf:")
    require_train_extra(f"agent {spec!r}")
    if Path(path).expanduser().is_file():
        raise ValueError(f"agent {spec!r}: {path!r} is a file; give the model's folder")
    try:
        return TransformersVLMPolicy.from_pretrained(path, seed=seed, name=spec)
    except ValueError as error:  # load_vlm names the problem; say which agent it was
        raise ValueError(f"agent {spec!r}: {str(error).split(': ', 1)[-1]}") from None
