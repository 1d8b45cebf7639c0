"""Generation speed of the tiny VLM on the CPU: tokens per second, batched and one at a time.

Eight first observations (chart, document and search tasks; one image each), 32 new tokens
forced per message (``min_new_tokens``), greedy. ``extra_info["tokens_per_s"]`` is the
throughput; the batched case generates all eight in one ``generate`` call.
"""

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402

NEW_TOKENS = 32


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(2)
    model, processor = build_tiny_vlm(seed=0)
    env_ids = ["ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"]
    pairs = [gym.make(env_ids[i % 3]).unwrapped.reset(seed=i) for i in range(8)]
    return model, processor, pairs


def _generate(model, batch):
    with torch.no_grad():
        return model.generate(
            **batch, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False
        )


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "one-at-a-time"])
def test_generation_tokens_per_second(benchmark, setup, batched):
    model, processor, pairs = setup
    if batched:
        batches = [
            encode(processor, [i["messages"] for _, i in pairs], [o["images"] for o, _ in pairs])
        ]
    else:
        batches = [encode(processor, [i["messages"]], [o["images"]]) for o, i in pairs]
    outputs = benchmark.pedantic(
        lambda: [_generate(model, b) for b in batches], rounds=3, iterations=1, warmup_rounds=1
    )
    generated = sum(out.shape[0] * NEW_TOKENS for out in outputs)
    assert generated == len(pairs) * NEW_TOKENS
    if benchmark.stats is not None:
        benchmark.extra_info["tokens_per_s"] = generated / benchmark.stats.stats.median
