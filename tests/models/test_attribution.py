"""Attribution on tiny Qwen2.5-VL models: completeness, agreement with captum, occlusion,
batching, and no gradient or graph left behind."""

import gc
import weakref

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines import OracleAgent  # noqa: E402
from iapo_bench.core import Box  # noqa: E402
from iapo_bench.models.attribution import (  # noqa: E402
    AttributionConfig,
    adaptive_quadrature,
    attribute,
    baseline_embeddings,
    blank_pixel_values,
    quadrature,
)
from iapo_bench.models.blocks import Prompt  # noqa: E402
from iapo_bench.models.embedding import decision_score, embed  # noqa: E402
from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.logprobs import completion_logprobs  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402

FAST = AttributionConfig(steps=4)


@pytest.fixture(scope="module")
def chart():
    """The first turn of a chart task and the oracle's first message (a tool call)."""
    env = gym.make("ToolUse-Chart-v0").unwrapped
    obs, info = env.reset(seed=0)
    decision = OracleAgent().act([obs], [info])[0] + "<|im_end|>"
    return Prompt(messages=info["messages"], images=obs["images"]), decision


@pytest.fixture(scope="module")
def second_turn():
    """A second turn (the chart and a zoom) and an answer."""
    env = gym.make("ToolUse-Chart-v0", difficulty=2).unwrapped
    obs, info = env.reset(seed=36)
    obs, _, _, _, info = env.step(OracleAgent().act([obs], [info])[0])
    return Prompt(messages=info["messages"], images=obs["images"]), "<answer>7</answer><|im_end|>"


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_vlm(seed=0)


def _shipped():
    from transformers import Qwen2_5_VLForConditionalGeneration

    from iapo_bench.baselines.vlm import TINY_VLM_PATH
    from iapo_bench.models.processor import ImageOnlyQwen2_5_VLProcessor

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(TINY_VLM_PATH).eval()
    return model, ImageOnlyQwen2_5_VLProcessor.from_pretrained(TINY_VLM_PATH)


@pytest.mark.parametrize("which", ["random-64", "random-128", "shipped"])
def test_completeness_within_5_percent_at_32_steps_with_the_defaults(chart, which):
    model, processor = (
        _shipped()
        if which == "shipped"
        else build_tiny_vlm(seed=0, hidden=int(which.split("-")[1]))
    )
    prompt, decision = chart
    [result] = attribute(model, processor, [prompt], [decision], AttributionConfig(steps=32))
    assert result.completeness_error < 0.05
    assert abs(result.f_input - result.f_baseline) > 0.1  # a change worth attributing
    total = sum(result.block_effects.values())
    assert total == pytest.approx(float(result.token_scores.sum()), rel=1e-9)
    assert set(result.block_scores) == {"P", "R", "I", "T"}


def test_gradient_times_input_is_ig_at_one_step(tiny, chart):
    model, processor = tiny
    prompt, decision = chart
    [gxi] = attribute(
        model, processor, [prompt], [decision], AttributionConfig(method="grad_x_input")
    )
    one = AttributionConfig(method="ig", steps=1, quadrature="uniform")
    [ig] = attribute(model, processor, [prompt], [decision], one)
    assert np.allclose(gxi.token_scores, ig.token_scores, rtol=1e-6, atol=1e-9)
    assert gxi.block_scores == pytest.approx(ig.block_scores)


@pytest.mark.parametrize(
    ("rule", "captum_method"), [("uniform", "riemann_right"), ("gauss-legendre", "gausslegendre")]
)
def test_integrated_gradients_agree_with_captum(tiny, chart, rule, captum_method):
    captum = pytest.importorskip("captum.attr")
    model, processor = tiny
    prompt, decision = chart
    config = AttributionConfig(steps=6, quadrature=rule, accumulation_dtype="float64")
    [mine] = attribute(model, processor, [prompt], [decision], config)

    batch = encode(processor, [prompt.messages], [prompt.images])
    ids = processor.tokenizer(decision, add_special_tokens=False)["input_ids"]
    embedded = embed(model, batch, [ids], processor.tokenizer.pad_token_id)
    baseline = baseline_embeddings(model, processor, embedded, batch, config)

    def f(embeddings):
        rows = torch.zeros(embeddings.shape[0], dtype=torch.long)
        return decision_score(model, embedded, embeddings, rows)

    theirs = captum.IntegratedGradients(f).attribute(
        embedded.inputs_embeds, baselines=baseline, n_steps=6, method=captum_method
    )
    per_token = theirs[0].sum(-1)[embedded.prompt_mask[0]].double().numpy()
    scale = np.abs(mine.token_scores).max()
    assert np.allclose(mine.token_scores, per_token, atol=1e-4 * scale)


def _white(image):
    return np.full_like(image, 255)


def test_occlusion_equals_explicit_forward_differences(tiny, chart):
    model, processor = tiny
    prompt, decision = chart
    config = AttributionConfig(method="occlusion", baseline="pad", image_baseline="blank")
    [result] = attribute(model, processor, [prompt], [decision], config)
    assert result.token_scores is None

    # The ordinary input-ids forward: a text block's tokens replaced by the pad token (its
    # embedding is the 'pad' baseline), the image by a white one of its size (the blank).
    pad = processor.tokenizer.pad_token_id
    ids = processor.tokenizer(decision, add_special_tokens=False)["input_ids"]
    blocks = np.array(result.token_blocks)

    def f(text_blocks, blank_image):
        images = [_white(i) if blank_image else i for i in prompt.images]
        batch = encode(processor, [prompt.messages], [images])
        batch["input_ids"][0, torch.from_numpy(np.isin(blocks, text_blocks))] = pad
        with torch.no_grad():
            return float(completion_logprobs(model, batch, [ids], pad)[0].sum())

    f_input = f([], False)
    assert result.f_input == pytest.approx(f_input, abs=1e-4)
    assert result.f_baseline == pytest.approx(f(["P", "R", "T"], True), abs=1e-4)
    for name in ("P", "R", "T"):
        assert result.block_effects[name] == pytest.approx(f_input - f([name], False), abs=1e-4)
    assert result.block_effects["I"] == pytest.approx(f_input - f([], True), abs=1e-4)
    assert result.block_scores == {k: abs(v) for k, v in result.block_effects.items()}


def test_no_parameter_gets_a_gradient_and_no_graph_outlives_the_call(chart):
    model, processor = build_tiny_vlm(seed=3)
    model.train()
    model.model.visual.eval()  # a frozen tower stays as its owner left it
    assert all(p.requires_grad for p in model.parameters())
    kept = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    saved = []

    def pack(tensor):
        if tensor.untyped_storage().data_ptr() not in kept:
            saved.append(weakref.ref(tensor))
        return tensor

    prompt, decision = chart
    with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        attribute(model, processor, [prompt], [decision], FAST)
        assert not torch.is_grad_enabled()
    gc.collect()
    assert saved, "the call saved no tensors for a backward pass"
    assert not [ref for ref in saved if ref() is not None]
    assert all(p.grad is None for p in model.parameters())
    assert model.training and not model.model.visual.training


def test_a_batch_gives_what_one_at_a_time_gives(tiny, chart, second_turn):
    model, processor = tiny
    prompts, decisions = zip(chart, second_turn, chart, strict=True)
    decisions = (decisions[0], decisions[1], "<answer>Lagos</answer><|im_end|>")
    config = AttributionConfig(steps=4, chunk_tokens=3000)  # two rows a chunk: chunks mix
    together = attribute(model, processor, prompts, decisions, config)
    for prompt, decision, batched in zip(prompts, decisions, together, strict=True):
        [alone] = attribute(model, processor, [prompt], [decision], config)
        assert alone.token_ids == batched.token_ids
        assert alone.decision_ids == batched.decision_ids
        assert alone.f_input == pytest.approx(batched.f_input, abs=1e-3)
        assert alone.f_baseline == pytest.approx(batched.f_baseline, abs=1e-3)
        scale = np.abs(alone.token_scores).max()
        assert np.allclose(alone.token_scores, batched.token_scores, atol=1e-5 * scale)


def test_blanking_the_image_moves_the_image_share_down(tiny, chart):
    model, processor = tiny
    prompt, decision = chart
    blanked = Prompt(messages=prompt.messages, images=(_white(prompt.images[0]),))
    seen, unseen = attribute(model, processor, [prompt, blanked], [decision] * 2, FAST)
    # A blank image is the image baseline itself: nothing in it to attribute.
    assert seen.distribution()["I"] > 0.005
    assert unseen.distribution()["I"] < seen.distribution()["I"] / 100
    assert unseen.block_scores["I"] < 1e-3 * seen.block_scores["I"]


def test_evidence_share_and_area(tiny, chart):
    model, processor = tiny
    prompt, decision = chart
    height, width = prompt.images[0].shape[:2]
    left = Box(x0=0, y0=0, x1=width // 2, y1=height)
    right = Box(x0=width // 2, y0=0, x1=width, y1=height)
    config = AttributionConfig(steps=4, image_split="evidence")
    results = attribute(
        model,
        processor,
        [prompt.model_copy(update={"evidence": (box,)}) for box in (left, right)],
        [decision] * 2,
        config,
    )
    for result in results:
        assert 0.0 <= result.evidence_share <= 1.0
        scores = result.block_scores
        assert result.evidence_share == pytest.approx(
            scores["I:evidence"] / (scores["I:evidence"] + scores["I:rest"])
        )
    # Overlapping cells are counted on both sides, so the shares sum to at least one.
    assert results[0].evidence_share + results[1].evidence_share >= 1.0 - 1e-9
    assert results[0].evidence_area + results[1].evidence_area >= 1.0
    [plain] = attribute(model, processor, [prompt], [decision], FAST)
    assert plain.evidence_share is None and plain.evidence_area is None


def test_bfloat16_runs_and_accumulates_in_float32(chart):
    model, processor = build_tiny_vlm(seed=0)
    prompt, decision = chart
    [full] = attribute(model, processor, [prompt], [decision], FAST)
    [half] = attribute(model.to(torch.bfloat16), processor, [prompt], [decision], FAST)
    assert half.token_scores.dtype == np.float64 and np.isfinite(half.token_scores).all()
    assert half.f_input == pytest.approx(full.f_input, rel=0.02)
    p, q = full.distribution(), half.distribution()
    assert sum(abs(p[b] - q[b]) for b in p) < 0.1


def test_the_adaptive_rule_puts_nodes_where_f_changes():
    profile = np.array([0.0, 0.1, 0.1, 5.0, 9.0, 9.1, 9.1, 9.2, 9.2])  # f at i / 8
    nodes, weights = adaptive_quadrature(profile, 32)
    assert len(nodes) == 32 and weights.sum() == pytest.approx(1.0)
    counts = np.histogram(nodes, bins=8, range=(0, 1))[0]
    assert counts.min() == 2 and counts.argmax() in (2, 3) and counts[2] + counts[3] > 16
    # Composite Gauss-Legendre: exact for cubics whatever the allocation.
    assert float((weights * nodes**3).sum()) == pytest.approx(1 / 4)
    nodes, weights = adaptive_quadrature(profile, 4)  # fewer nodes than segments
    assert len(nodes) == 4 and float((weights * nodes).sum()) == pytest.approx(1 / 2)


def test_quadrature_rules_integrate_polynomials():
    for rule in ("uniform", "gauss-legendre", "dense"):
        nodes, weights = quadrature(rule, 16)
        assert weights.sum() == pytest.approx(1.0)
        assert ((nodes > 0) & (nodes <= 1)).all()
    nodes, weights = quadrature("gauss-legendre", 4)
    assert float((weights * nodes**7).sum()) == pytest.approx(1 / 8)  # exact to degree 7
    nodes, weights = quadrature("dense", 8)
    assert float((weights * nodes**3).sum()) == pytest.approx(1 / 4)
    with pytest.raises(ValueError):
        quadrature("uniform", 0)


def test_prompts_and_decisions_must_pair_up(tiny, chart):
    model, processor = tiny
    prompt, decision = chart
    with pytest.raises(ValueError, match="prompts"):
        attribute(model, processor, [prompt], [decision, decision])
    with pytest.raises(ValueError, match="at least one token"):
        attribute(model, processor, [prompt], [""])
    assert attribute(model, processor, [], []) == []


def test_blank_pixel_values_are_a_white_image_of_the_same_grid(tiny, chart):
    _, processor = tiny
    prompt, _ = chart
    white = _white(prompt.images[0])
    expected = encode(processor, [prompt.messages], [[white]])
    pixels = blank_pixel_values(processor, expected["image_grid_thw"], (255, 255, 255))
    assert torch.allclose(pixels, expected["pixel_values"], atol=1e-6)
