"""PAPO's masked-image KL: zero without masking, positive with it, differentiable."""

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.models.blocks import Prompt  # noqa: E402
from iapo_bench.models.papo import (  # noqa: E402
    mask_patches,
    masked_image_kl,
    masked_image_terms,
)
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402

DECISIONS = ["<answer>12</answer><|im_end|>", '<tool_call>\n{"name": "zoom"}\n</tool_call>']


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_vlm(seed=2)


@pytest.fixture(scope="module")
def prompts():
    env = gym.make("ToolUse-Chart-v0").unwrapped
    out = []
    for seed in (1, 2):
        obs, info = env.reset(seed=seed)
        out.append(Prompt(messages=info["messages"], images=obs["images"]))
    return out


def test_no_mask_no_divergence(tiny, prompts):
    model, processor = tiny
    with torch.no_grad():
        kls = masked_image_kl(model, processor, prompts, DECISIONS, mask_ratio=0.0)
    tokens = [len(processor.tokenizer(d, add_special_tokens=False)["input_ids"]) for d in DECISIONS]
    assert [len(k) for k in kls] == tokens
    for kl in kls:
        assert torch.allclose(kl, torch.zeros_like(kl), atol=1e-6)


@pytest.mark.parametrize("estimator", ["full", "k3"])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_masking_gives_a_positive_divergence(tiny, prompts, estimator, direction):
    model, processor = tiny
    if estimator == "k3" and direction == "reverse":
        # k3 needs samples of the first distribution; the decisions come from the
        # unmasked policy, so the reverse direction has no unbiased k3 estimate.
        with pytest.raises(ValueError, match="k3"):
            masked_image_kl(
                model, processor, prompts, DECISIONS, estimator=estimator, direction=direction
            )
        return
    with torch.no_grad():
        kls = masked_image_kl(
            model, processor, prompts, DECISIONS, estimator=estimator, direction=direction
        )
    for kl in kls:
        assert (kl >= -1e-6).all() and kl.sum() > 0


def test_the_masks_are_reproducible_and_seeded(tiny, prompts):
    model, processor = tiny
    with torch.no_grad():
        first = masked_image_kl(model, processor, prompts, DECISIONS, seed=3)
        again = masked_image_kl(model, processor, prompts, DECISIONS, seed=3)
        other = masked_image_kl(model, processor, prompts, DECISIONS, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_the_loss_term_reaches_the_parameters(tiny, prompts):
    model, processor = tiny
    kls = masked_image_kl(model, processor, prompts[:1], DECISIONS[:1])
    (gradient,) = torch.autograd.grad(kls[0].mean(), model.model.language_model.norm.weight)
    assert gradient.abs().sum() > 0


def test_mask_patches_blackens_a_share_of_the_cells():
    image = np.full((90, 120, 3), 200, dtype=np.uint8)
    masked = mask_patches(image, rows=3, cols=4, ratio=0.6, rng=np.random.default_rng(0))
    black = (masked == 0).all(-1)
    cells = black.reshape(3, 30, 4, 30).all(axis=(1, 3))
    assert cells.sum() == round(0.6 * 12)
    assert black.sum() == cells.sum() * 30 * 30  # whole cells, nothing else
    assert (image == 200).all()  # the original is untouched
    assert (mask_patches(image, 3, 4, 0.0, np.random.default_rng(0)) == image).all()
    with pytest.raises(ValueError):
        mask_patches(image, 3, 4, 1.5, np.random.default_rng(0))


def test_the_terms_hold_the_kl_and_both_entropies(tiny, prompts):
    model, processor = tiny
    with torch.no_grad():
        terms = masked_image_terms(model, processor, prompts, DECISIONS, seed=1)
        kls = masked_image_kl(model, processor, prompts, DECISIONS, seed=1)
        unmasked = masked_image_terms(model, processor, prompts, DECISIONS, mask_ratio=0.0)
    vocabulary = len(processor.tokenizer)
    for term, kl, same in zip(terms, kls, unmasked, strict=True):
        assert torch.equal(term.kl, kl)
        for entropy in (term.entropy, term.masked_entropy):
            assert entropy.shape == kl.shape
            assert ((entropy >= 0) & (entropy <= np.log(vocabulary) + 1e-4)).all()
        assert not torch.allclose(term.entropy, term.masked_entropy)
        assert torch.allclose(same.entropy, same.masked_entropy, atol=1e-5)
