"""The loss pieces: advantages, the clipped objective, and where the loss can reach."""

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from iapo_bench.models.inputs import ImageInputs, pack  # noqa: E402
from iapo_bench.models.load import load_vlm  # noqa: E402
from iapo_bench.train.loss import (  # noqa: E402
    entropy,
    generated_distributions,
    generated_mask,
    group_advantages,
    kl_full,
    policy_loss,
)
from iapo_bench.train.rollout import Sampling, play  # noqa: E402


def test_group_advantages_by_hand():
    # Group (1, 0, 0, 0): mean 0.25, population std sqrt(3)/4 = 0.4330.
    advantages = group_advantages([1.0, 0.0, 0.0, 0.0, 2.0, 2.0], 2, scale=False)
    assert advantages == [0.5, -0.5, 0.0, 0.0, 0.0, 0.0]
    scaled = group_advantages([1.0, 0.0, 0.0, 0.0], 4)
    assert scaled[0] == pytest.approx(0.75 / (0.4330127 + 1e-4))
    assert scaled[1] == pytest.approx(-0.25 / (0.4330127 + 1e-4))
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages([1.0, 2.0, 3.0], 4)


def test_clipped_objective_and_k3_by_hand():
    logprobs = torch.log(torch.tensor([0.5, 0.5, 0.5]))
    old = torch.log(torch.tensor([0.25, 0.5, 1.0]))  # ratios 2, 1, 0.5
    advantages = torch.tensor([1.0, 1.0, -1.0])
    reference = torch.log(torch.tensor([0.5, 0.25, 0.5]))
    loss, stats = policy_loss(logprobs, old, reference, advantages, 0.2, 0.2, beta=0.1)
    # Ratio 2 with A = 1 is clipped to 1.2; ratio 0.5 with A = -1 is clipped to 0.8, and
    # min(0.5 * -1, 0.8 * -1) = -0.8: the pessimistic side is kept.
    # k3 with delta = ref - logp: (0, log 0.5, 0) -> (0, 0.5 + 0.6931 - 1, 0) = (0, 0.1931, 0).
    expected = torch.tensor([-1.2, -1.0 + 0.1 * 0.19315, 0.8])
    assert torch.allclose(loss, expected, atol=1e-4)
    assert stats["clipped"].tolist() == [1.0, 0.0, 1.0]


def test_full_kl_and_entropy_by_hand():
    p = torch.log(torch.tensor([[0.5, 0.5]]))
    q = torch.log(torch.tensor([[0.25, 0.75]]))
    # KL(p || q) = 0.5 ln 2 + 0.5 ln(2/3) = 0.1438; H(p) = ln 2.
    assert kl_full(p, q).item() == pytest.approx(0.143841, abs=1e-5)
    assert entropy(p).item() == pytest.approx(0.693147, abs=1e-5)
    assert kl_full(p, p).item() == pytest.approx(0.0, abs=1e-7)


def test_tool_outputs_and_prompts_carry_no_loss_weight():
    model, processor = load_vlm("tiny-vlm")
    envs = [gym.make("ToolUse-Chart-v0", max_turns=3).unwrapped for _ in range(2)]
    rollouts = play(model, processor, envs, ["chart/v0/train/d2/4"], 2, Sampling(64), seed=1)
    assert any(not all(r.generated[r.prompt_length :]) for r in rollouts), "no tool output"
    batch = pack([r.ids for r in rollouts], [r.images for r in rollouts],
                 ImageInputs(processor), processor.tokenizer.pad_token_id)  # fmt: skip
    mask = generated_mask([r.generated for r in rollouts], batch["input_ids"].shape[1])
    captured = {}

    def keep(module, args, output):  # the logits the loss sees, with their gradient
        output.retain_grad()
        captured["logits"] = output

    handle = model.lm_head.register_forward_hook(keep)
    chosen, _ = generated_distributions(model, batch, mask)
    handle.remove()
    loss, _ = policy_loss(chosen, chosen.detach(), None, torch.ones_like(chosen), 0.2, 0.2, 0.0)
    loss.sum().backward()
    # Logits at column t predict token t + 1: only those predicting a generated token exist,
    # one row each, and every one of them carries gradient.
    predicts_generated = torch.zeros_like(mask)
    predicts_generated[:, :-1] = mask[:, 1:]
    assert captured["logits"].shape[0] == int(predicts_generated.sum())
    assert (captured["logits"].grad.abs().sum(dim=-1) > 0).all()
    # ... and they are the plain forward's logits at exactly those columns.
    with torch.no_grad():
        plain = model(**batch, use_cache=False).logits[predicts_generated]
        expected = plain.log_softmax(-1).gather(-1, batch["input_ids"][mask].unsqueeze(-1))
    torch.testing.assert_close(chosen.detach(), expected.squeeze(-1), atol=1e-5, rtol=1e-5)
    model.zero_grad(set_to_none=True)


def test_the_generated_mask_right_aligns_each_rows_flags():
    mask = generated_mask([[False, True, True], [True], []], 4)
    assert mask.tolist() == [
        [False, False, True, True],
        [False, False, False, True],
        [False, False, False, False],
    ]


def test_scoring_leaves_out_suppressed_ids_and_follows_the_temperature():
    model, _ = load_vlm("random:64x1")
    ids = torch.tensor([[5, 6, 7, 8]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    mask = torch.tensor([[False, False, True, True]])
    plain, _ = generated_distributions(model, batch, mask)
    hot, hot_full = generated_distributions(model, batch, mask, temperature=2.0, suppressed=[9, 10])
    assert torch.isinf(hot_full[:, [9, 10]]).all() and (hot_full[:, [9, 10]] < 0).all()
    assert torch.allclose(hot_full.exp().sum(-1), torch.ones(2), atol=1e-5)
    logits = model(**batch).logits[0, 1:3].float() / 2.0
    logits[:, [9, 10]] = float("-inf")
    expected = logits.log_softmax(-1).gather(-1, ids[0, 2:4, None]).squeeze(-1)
    assert torch.allclose(hot, expected, atol=1e-5) and not torch.allclose(hot, plain)
    assert kl_full(hot_full, hot_full).abs().max().item() < 1e-6  # -inf rows add nothing
    assert torch.isfinite(entropy(hot_full)).all()
