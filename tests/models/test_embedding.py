"""The embedding path gives the ordinary input-ids forward's logits and log-probabilities."""

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines import OracleAgent  # noqa: E402
from iapo_bench.models.embedding import decision_score, embed, image_features  # noqa: E402
from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.logprobs import append_completions, completion_logprobs  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_vlm(seed=1)


@pytest.fixture(scope="module")
def episodes():
    """A first turn (one image) and a second turn (the image and a zoom), different lengths."""
    env = gym.make("ToolUse-Chart-v0", difficulty=2).unwrapped
    obs, info = env.reset(seed=36)
    first = (info["messages"], obs["images"])
    obs, _, _, _, info = env.step(OracleAgent().act([obs], [info])[0])
    return [first, (info["messages"], obs["images"])]


def test_embedding_path_logits_equal_the_input_ids_forward(tiny, episodes):
    model, processor = tiny
    batch = encode(processor, [m for m, _ in episodes], [i for _, i in episodes])
    completions = [[40, 41, 42, 2], [43, 2]]
    pad = processor.tokenizer.pad_token_id
    embedded = embed(model, batch, completions, pad)
    full = append_completions(batch, completions, pad)
    full.pop("completion_mask")
    with torch.no_grad():
        ordinary = model(**full).logits
        mine = model(
            inputs_embeds=embedded.inputs_embeds,
            attention_mask=embedded.attention_mask,
            position_ids=embedded.position_ids,
            use_cache=False,
        ).logits
    real = full["attention_mask"].bool()
    assert torch.allclose(ordinary[real], mine[real], atol=1e-5)
    # The positions are 3-D ones: an image advances the text position by its grid's side.
    assert not torch.equal(embedded.position_ids[0], embedded.position_ids[1])


def test_decision_score_is_the_sum_of_the_completion_log_probabilities(tiny, episodes):
    model, processor = tiny
    batch = encode(processor, [m for m, _ in episodes], [i for _, i in episodes])
    completions = [[40, 41, 42, 2], [43, 2]]
    pad = processor.tokenizer.pad_token_id
    with torch.no_grad():
        expected = [float(lp.sum()) for lp in completion_logprobs(model, batch, completions, pad)]
        scores = decision_score(model, embed(model, batch, completions, pad))
    assert scores.tolist() == pytest.approx(expected, abs=1e-4)


def test_image_tokens_and_features_must_pair_up(tiny, episodes):
    model, processor = tiny
    messages, images = episodes[0]
    batch = dict(encode(processor, [messages], [images]))
    batch["input_ids"] = batch["input_ids"].clone()
    first = int((batch["input_ids"][0] == processor.image_token_id).nonzero()[0])
    batch["input_ids"][0, first] = 40  # one image token fewer than the features
    with pytest.raises(ValueError, match="image tokens"):
        embed(model, batch, [[2]], processor.tokenizer.pad_token_id)


def test_identical_images_share_one_pass_of_the_vision_tower(tiny, episodes):
    model, processor = tiny
    messages, images = episodes[1]  # the chart and its zoom: two grids
    batch = encode(processor, [messages, messages], [images, images])
    calls = []
    hook = model.model.visual.register_forward_hook(lambda *args: calls.append(args[1][0]))
    try:
        shared = image_features(model, batch["pixel_values"], batch["image_grid_thw"])
    finally:
        hook.remove()
    assert len(calls) == 1 and calls[0].shape[0] == batch["pixel_values"].shape[0] // 2
    with torch.no_grad():
        out = model.model.get_image_features(
            batch["pixel_values"], batch["image_grid_thw"], return_dict=True
        )
    assert torch.allclose(shared, torch.cat(list(out.pooler_output)), atol=1e-6)
