"""The shared-prefix scorer gives the plain forward's logits and gradients, faster."""

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.models.logprobs import selected_logits, shared_prefix_length  # noqa: E402
from iapo_bench.models.processor import build_processor  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402
from iapo_bench.train.bc import bc_examples, collate, tokenize_example  # noqa: E402


@pytest.fixture(scope="module")
def model_and_batch():
    model, processor = build_tiny_vlm(seed=3)
    # Two-turn Bars episodes: the answers come after a tool image, at 3-D positions past it.
    examples = list(bc_examples(["ToolUse-Bars-v0"], 3, seed=1))
    batch = collate(
        [tokenize_example(processor, e) for e in examples], processor.tokenizer.pad_token_id
    )
    labels = batch.pop("labels")
    selected = torch.zeros_like(labels, dtype=torch.bool)
    selected[:, :-1] = labels[:, 1:] != -100
    return model, batch, selected


def test_the_prefix_is_the_shared_system_prompt_and_stops_before_any_label(model_and_batch):
    _, batch, selected = model_and_batch
    prefix = shared_prefix_length(batch, selected)
    # At least the whole system turn (Bars' compact prompt) is shared by every row.
    _, info = gym.make("ToolUse-Bars-v0").reset(seed=1)
    system = f"<|im_start|>system\n{info['messages'][0]['content']}<|im_end|>\n"
    assert prefix >= len(build_processor().tokenizer(system)["input_ids"]) > 40
    for row in range(batch["input_ids"].shape[0]):
        columns = batch["attention_mask"][row].nonzero().squeeze(-1)
        assert not selected[row, columns[:prefix]].any()
        assert (batch["mm_token_type_ids"][row, columns[:prefix]] == 0).all()


def test_logits_equal_the_plain_forward(model_and_batch):
    model, batch, selected = model_and_batch
    with torch.no_grad():
        plain = model(**batch, use_cache=False).logits[selected]
        fast = selected_logits(model, batch, selected)
    assert fast.shape == plain.shape
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-5)


def test_gradients_equal_the_plain_forward(model_and_batch):
    model, batch, selected = model_and_batch

    def gradients(logits_of):
        model.zero_grad()
        logits_of().log_softmax(-1).max(-1).values.sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = gradients(lambda: model(**batch, use_cache=False).logits[selected])
    fast = gradients(lambda: selected_logits(model, batch, selected))
    assert plain.keys() == fast.keys()
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], atol=1e-4, rtol=1e-3, msg=name)


def test_rows_with_nothing_in_common_take_no_prefix(model_and_batch):
    model, batch, selected = model_and_batch
    other = {k: v.clone() for k, v in batch.items()}
    columns = other["attention_mask"][0].nonzero().squeeze(-1)
    other["input_ids"][0, columns[0]] = other["input_ids"][1, columns[0]] + 1
    assert shared_prefix_length(other, selected) == 0
    with torch.no_grad():
        plain = model(**other, use_cache=False).logits[selected]
        torch.testing.assert_close(
            selected_logits(model, other, selected), plain, atol=1e-5, rtol=1e-5
        )
