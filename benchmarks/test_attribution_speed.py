"""Cost of IAPO's attribution on the CPU, as ratios of the bare model work it contains.

The sample: the first turn of a chart task (one image, the tool schemas; about 1,000 tokens
with the tiny VLM's processor) and the oracle's first message as the decision, on a random
tiny Qwen2.5-VL of width 64; and a 4x longer prompt, the same conversation with more charts
shown in later user messages (one image and question each) until it is 4x as long.

- ``test_integrated_gradients``: ``attribute`` with m = 8 (Gauss-Legendre, and the default
  adaptive rule, which adds 7 forward passes along the path), everything included (blocks,
  processor, vision tower, baselines, f at both ends). ``extra_info``: ``ratio_separate``,
  its time over 8 separate forward+backward passes on the embedding path of the same sample
  (goal <= 1.0x: batching must not cost more than the math), and ``ratio_one``, over one.
- ``test_occlusion``: ``attribute(method="occlusion")`` over one forward pass of the sample:
  on the embedding path (``ratio_one``) and the ordinary ``model(**batch)`` with its vision
  tower (``ratio_model_forward``); goal <= blocks + 1 = 5.

The floors are written by hand with the embedding path's public pieces. The machine is
shared, so each ratio divides the fastest of 5 timings of the work by the fastest of 5 of
its floor, the two interleaved on the same sample.
"""

import time

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines import OracleAgent  # noqa: E402
from iapo_bench.models.attribution import AttributionConfig, attribute  # noqa: E402
from iapo_bench.models.blocks import Prompt, prompt_layout  # noqa: E402
from iapo_bench.models.embedding import decision_score, embed  # noqa: E402
from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402

STEPS = 8


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(2)
    model, processor = build_tiny_vlm(seed=0)
    env = gym.make("ToolUse-Chart-v0").unwrapped
    obs, info = env.reset(seed=0)
    decision = OracleAgent().act([obs], [info])[0] + "<|im_end|>"
    short = Prompt(messages=info["messages"], images=obs["images"])
    target = 4 * len(prompt_layout(processor, short).token_ids)
    messages, images, seed = list(info["messages"]), list(obs["images"]), 1
    while True:
        more, extra = env.reset(seed=seed)
        messages.append(extra["messages"][1])
        images.append(more["images"][0])
        seed += 1
        long = Prompt(messages=messages, images=images)
        if len(prompt_layout(processor, long).token_ids) >= target:
            break
    return model, processor, {"chart": short, "4x": long}, decision


def _floors(model, processor, prompt, decision):
    """The bare model work, as functions: fwd+bwd and forward on the embedding path, and one
    ordinary forward (``model(**batch)``: vision tower and language model)."""
    batch = encode(processor, [prompt.messages], [prompt.images])
    ids = processor.tokenizer(decision, add_special_tokens=False)["input_ids"]
    embedded = embed(model, batch, [ids], processor.tokenizer.pad_token_id)
    rows = torch.zeros(1, dtype=torch.long)

    def forward_backward():
        leaf = embedded.inputs_embeds.clone().requires_grad_(True)
        torch.autograd.grad(decision_score(model, embedded, leaf, rows).sum(), leaf)

    def forward():
        with torch.no_grad():
            decision_score(model, embedded, embedded.inputs_embeds, rows)

    def model_forward():
        with torch.no_grad():
            model(**batch, logits_to_keep=len(ids) + 1)

    return forward_backward, forward, model_forward


def _paired_ratios(work, floors, rounds=5):
    """Work's time over each floor's: the fastest of ``rounds`` interleaved timings of each.

    The machine is shared: other load only ever adds time, so the fastest round of each is
    the best estimate of its own cost, and interleaving exposes both to the same load.
    """
    spent, floor_times = [], [[] for _ in floors]
    for _ in range(rounds):
        began = time.perf_counter()
        work()
        spent.append(time.perf_counter() - began)
        for times, (floor, repeat) in zip(floor_times, floors, strict=True):
            began = time.perf_counter()
            for _ in range(repeat):
                floor()
            times.append(time.perf_counter() - began)
    return [min(spent) / min(times) for times in floor_times]


@pytest.mark.parametrize("quadrature", ["gauss-legendre", "adaptive"])
@pytest.mark.parametrize("length", ["chart", "4x"])
def test_integrated_gradients(benchmark, setup, length, quadrature):
    model, processor, prompts, decision = setup
    prompt = prompts[length]
    config = AttributionConfig(steps=STEPS, quadrature=quadrature)

    def work():
        return attribute(model, processor, [prompt], [decision], config)

    [result] = benchmark.pedantic(work, rounds=3, iterations=1, warmup_rounds=1)
    assert result.token_scores is not None and len(result.token_ids) > 900
    if benchmark.stats is not None:
        forward_backward, _, _ = _floors(model, processor, prompt, decision)
        separate, one = _paired_ratios(work, [(forward_backward, STEPS), (forward_backward, 1)])
        benchmark.extra_info.update(
            tokens=len(result.token_ids), ratio_separate=separate, ratio_one=one
        )


@pytest.mark.parametrize("length", ["chart", "4x"])
def test_occlusion(benchmark, setup, length):
    model, processor, prompts, decision = setup
    prompt = prompts[length]
    config = AttributionConfig(method="occlusion")

    def work():
        return attribute(model, processor, [prompt], [decision], config)

    [result] = benchmark.pedantic(work, rounds=3, iterations=1, warmup_rounds=1)
    assert set(result.block_scores) == {"P", "R", "I", "T"}
    if benchmark.stats is not None:
        _, forward, model_forward = _floors(model, processor, prompt, decision)
        one, ordinary = _paired_ratios(work, [(forward, 1), (model_forward, 1)])
        benchmark.extra_info.update(
            tokens=len(result.token_ids), ratio_one=one, ratio_model_forward=ordinary
        )
