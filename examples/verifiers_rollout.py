"""Use from verifiers: rollouts of iapo-bench tasks through verifiers v1, scored by our rubric.

    python examples/verifiers_rollout.py --base-url http://127.0.0.1:8000/v1 \
        --model Qwen/Qwen2.5-VL-3B-Instruct --env ToolUse-OCR-v0 --tasks 2

Any OpenAI-compatible endpoint with native tool calls (vLLM, SGLang) serves the model. Each
rollout runs verifiers' chat program (:class:`~iapo_bench.adapters.verifiers.LocalChatHarness`)
in a local subprocess, with the task's tools served over MCP by
:class:`~iapo_bench.adapters.verifiers.IAPOToolset`. Needs the ``[verifiers]`` extra.
"""

from __future__ import annotations

import argparse
import asyncio


def main(argv: list[str] | None = None) -> list[float]:
    """Run one rollout per task; returns their rewards."""
    from iapo_bench.adapters.verifiers import IAPOTaskset, IAPOTasksetConfig, make_agent

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="The endpoint, e.g. http://host:8000/v1")
    parser.add_argument("--model", required=True, help="The model name the endpoint serves.")
    parser.add_argument("--env", default="ToolUse-OCR-v0", help="The env id.")
    parser.add_argument("--split", default="validation", help="train, validation or test.")
    parser.add_argument("--tasks", type=int, default=1, help="How many tasks.")
    args = parser.parse_args(argv)

    taskset = IAPOTaskset(IAPOTasksetConfig(env_id=args.env, split=args.split, size=args.tasks))
    agent = make_agent(args.model, base_url=args.base_url, max_turns=4)

    async def run() -> list:
        async with agent:
            return [await agent.run(task) for task in taskset]

    rewards = []
    for trace in asyncio.run(run()):
        print(trace.task.data.task_id, "reward", trace.reward,
              {k: v for k, v in trace.metrics.items() if k.startswith("iapo/")})  # fmt: skip
        rewards.append(trace.reward)
    return rewards


if __name__ == "__main__":
    main()
