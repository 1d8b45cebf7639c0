"""Behaviour cloning: examples from oracle episodes, labels, positions, and real learning."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.logprobs import completion_logprobs  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402
from iapo_bench.train.bc import bc_examples, clone, tokenize_example  # noqa: E402

ENVS = ["ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"]


@pytest.fixture(scope="module")
def examples():
    return list(bc_examples(ENVS, 3, seed=11))


def test_every_oracle_message_becomes_an_example_with_its_images(examples):
    # Three one-call oracle episodes: a call and an answer each.
    assert len(examples) == 6
    for conversation, images in examples:
        assert conversation[-1]["role"] == "assistant"
        placeholders = sum(
            part.get("type") == "image"
            for message in conversation
            if isinstance(message["content"], list)
            for part in message["content"]
        )
        assert placeholders == len(images)
    assert [len(images) for _, images in examples] == [1, 2] * 3


def test_labels_are_the_message_and_its_end_of_turn_only(examples):
    _, processor = build_tiny_vlm(seed=0)
    tokenizer = processor.tokenizer
    for conversation, images in examples:
        batch = tokenize_example(processor, (conversation, images))
        labelled = batch["labels"][0][batch["labels"][0] != -100].tolist()
        assert labelled[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert tokenizer.decode(labelled[:-1]) == conversation[-1]["content"]
        assert batch["mm_token_type_ids"].shape == batch["input_ids"].shape


def test_the_training_loss_scores_tokens_where_generation_places_them(examples):
    """BC's loss is the mean negative log-prob that scoring (and so generation) gives."""
    model, processor = build_tiny_vlm(seed=3)
    for conversation, images in examples[:2]:
        batch = tokenize_example(processor, (conversation, images))
        labels = batch["labels"][0]
        message = labels[labels != -100].tolist()
        prompt = encode(processor, [conversation[:-1]], [images])
        with torch.no_grad():
            loss = model(**batch).loss.item()
            scored = completion_logprobs(
                model, prompt, [message], processor.tokenizer.pad_token_id
            )[0]
        assert loss == pytest.approx(-scored.mean().item(), abs=1e-5)


def test_cloning_lowers_the_loss_on_its_examples(examples):
    model, processor = build_tiny_vlm(seed=0)
    batches = [tokenize_example(processor, e) for e in examples]

    def mean_loss() -> float:
        with torch.no_grad():
            return sum(model(**b).loss.item() for b in batches) / len(batches)

    before = mean_loss()
    losses = clone(model, processor, examples, epochs=8, log_every=0)
    assert len(losses) == 8 * len(examples)
    assert mean_loss() < 0.5 * before
    assert not model.training


def test_a_collated_batch_has_the_mean_loss_of_its_examples(examples):
    from iapo_bench.train.bc import collate

    model, processor = build_tiny_vlm(seed=3)
    tokenized = [tokenize_example(processor, e) for e in examples[:3]]
    with torch.no_grad():
        alone = [model(**t).loss.item() for t in tokenized]
        counts = [int((t["labels"] != -100).sum()) - 1 for t in tokenized]  # shifted labels
        together = model(**collate(tokenized, processor.tokenizer.pad_token_id)).loss.item()
    expected = sum(a * c for a, c in zip(alone, counts, strict=True)) / sum(counts)
    assert together == pytest.approx(expected, rel=1e-4)
