"""The README's "Train with TRL" and "Use from verifiers" examples run as written."""

from __future__ import annotations

import importlib.util
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str):
    """The example script as a module (its main() takes argv)."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="example")


def test_trl_example_trains_two_grpo_steps(tmp_path):
    for module in ("torch", "transformers", "trl", "datasets"):
        pytest.importorskip(module)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two spinning threads on a shared two-core machine: 10x slower
    try:
        logs = example("trl_grpo")["main"](
            ["--env", "ToolUse-OCR-v0", "--tasks", "2", "--steps", "2", "--output", str(tmp_path)]
        )
    finally:
        torch.set_num_threads(threads)
    assert logs["step"] == 2 and "rubric/exact_match" in logs and "tools/call_frequency" in logs


@pytest.mark.skipif(
    importlib.util.find_spec("verifiers") is None,
    reason="needs the [verifiers] extra (verifiers==0.4.0)",
)
def test_verifiers_example_rolls_out_against_an_endpoint():
    from iapo_bench.envs import load_task
    from tests.adapters.test_verifiers import StreamingChatServer, first_task

    answer = load_task(first_task("ToolUse-OCR-v0").data.task_id).answer
    call = ("ocr", {"box": [0, 0, 120, 60]})
    with StreamingChatServer(call, f"<answer>{answer}</answer>") as server:
        rewards = example("verifiers_rollout")["main"](
            ["--base-url", server.base_url, "--model", "scripted", "--env", "ToolUse-OCR-v0"]
        )
    assert rewards == [1.0]
