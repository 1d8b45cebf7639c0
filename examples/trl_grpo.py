"""Train with TRL: GRPO on an iapo-bench env, with its tools, its rubric and our chat template.

    python examples/trl_grpo.py --env ToolUse-Chart-v0 --steps 2 --output /tmp/grpo

Runs on a CPU in seconds with a random-weight tiny Qwen2.5-VL (``build_tiny_vlm``); to train
your own model, load it and its processor in place of the tiny ones (its chat template must
express tool calls: TRL checks). Each prompt is a task; each rollout's tool calls run our
tools (images come back into the conversation); ``rubric_reward`` scores the final answer
with the env's rubric.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # environment_factory is experimental


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train for ``--steps`` GRPO steps; returns the last logged metrics."""
    from trl import GRPOConfig, GRPOTrainer

    from iapo_bench.adapters.trl import (
        check_completion_length,
        environment_factories,
        prompt_dataset,
        rubric_reward,
    )
    from iapo_bench.models.tiny import build_tiny_vlm

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="ToolUse-Chart-v0", help="The env id to train on.")
    parser.add_argument("--tasks", type=int, default=4, help="Training tasks (seeds 0, 1, ...).")
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps.")
    parser.add_argument("--output", default="grpo-output", help="The trainer's output folder.")
    args = parser.parse_args(argv)

    model, processor = build_tiny_vlm(seed=0)  # our tokenizer and chat template
    model.train()
    dataset = prompt_dataset(args.env, split="train", size=args.tasks)
    config = GRPOConfig(
        output_dir=args.output,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=640,  # an OCR of the whole image and its text fit (check below)
        max_tool_calling_iterations=3,  # at most 3 calls, then the answer: max_turns=4
        max_steps=args.steps,
        learning_rate=1e-5,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
    )
    # A call and its result must fit in the completion, or TRL drops the result silently.
    check_completion_length(config.max_completion_length, processor, args.env)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[rubric_reward],
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        environment_factory=environment_factories(dataset, max_turns=4),
    )
    trainer.train()
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    print({k: v for k, v in logs.items() if k.startswith(("reward", "rubric/", "tools/"))})
    return logs


if __name__ == "__main__":
    main()
