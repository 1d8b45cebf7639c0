"""Generation speed of the tiny VLM on the CPU: tokens per second, batched and one at a time.

Eight first observations (chart, document and search tasks; one image each), 32 new tokens
forced per message (``min_new_tokens``), greedy. ``extra_info["tokens_per_s"]`` is the
throughput; the batched case generates all eight in one ``generate`` call.

The floor is the bare model work ``generate`` contains: one prefill pass and 31 cached decode
steps written by hand (``_bare_greedy``), batched. It must give the same tokens.
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


def _bare_greedy(model, batch):
    """Prefill, then one cached forward a token: the least work greedy decoding needs."""
    mask = batch["attention_mask"]
    stops = model.generation_config.eos_token_id
    stops = [stops] if isinstance(stops, int) else list(stops or [])

    def pick(logits):
        logits = logits[:, -1].clone()
        logits[:, stops] = float("-inf")  # as min_new_tokens does in generate
        return logits.argmax(-1)

    with torch.no_grad():
        out = model(**batch, use_cache=True, logits_to_keep=1)  # as generate does
        tokens = [pick(out.logits)]
        for _ in range(NEW_TOKENS - 1):
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            # Positions as generate builds them: a text row, then M-RoPE's three rows
            # shifted by the deltas the prefill stored on the model.
            text = mask.sum(-1, keepdim=True) - 1
            rope = (text + model.model.rope_deltas)[None].expand(3, -1, -1)
            out = model(
                input_ids=tokens[-1][:, None],
                attention_mask=mask,
                position_ids=torch.cat([text[None], rope], dim=0),
                cache=out.past_key_values,
                use_cache=True,
            )
            tokens.append(pick(out.logits))
    return torch.stack(tokens, dim=1)


def test_bare_decoding_floor(benchmark, setup):
    model, processor, pairs = setup
    batch = encode(processor, [i["messages"] for _, i in pairs], [o["images"] for o, _ in pairs])
    tokens = benchmark.pedantic(
        lambda: _bare_greedy(model, batch), rounds=5, iterations=1, warmup_rounds=1
    )
    width = batch["input_ids"].shape[1]
    # The floor computes exactly what generate computes.
    assert torch.equal(tokens, _generate(model, batch)[:, width:])
    if benchmark.stats is not None:
        benchmark.extra_info["tokens_per_s"] = tokens.numel() / benchmark.stats.stats.median


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
        lambda: [_generate(model, b) for b in batches], rounds=5, iterations=1, warmup_rounds=1
    )
    generated = sum(out.shape[0] * NEW_TOKENS for out in outputs)
    assert generated == len(pairs) * NEW_TOKENS
    if benchmark.stats is not None:
        benchmark.extra_info["tokens_per_s"] = generated / benchmark.stats.stats.median
