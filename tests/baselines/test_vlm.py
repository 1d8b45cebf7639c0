"""The transformers VLM policy, on a random-weight tiny Qwen2.5-VL and real env observations."""

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines.vlm import TransformersVLMPolicy  # noqa: E402
from iapo_bench.leaderboard import run_episodes, task_ids_for  # noqa: E402
from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.tiny import build_tiny_vlm  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_vlm(seed=1)


def observations(count: int):
    env_ids = ["ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"]
    pairs = []
    for i in range(count):
        env = gym.make(env_ids[i % 3]).unwrapped
        pairs.append(env.reset(seed=i))
    return [obs for obs, _ in pairs], [info for _, info in pairs]


def test_act_returns_one_message_each_with_its_tokens_and_logprobs(tiny):
    model, processor = tiny
    policy = TransformersVLMPolicy(model, processor, max_new_tokens=8, name="tiny")
    obs, infos = observations(3)
    messages = policy.act(obs, infos)
    assert len(messages) == 3 and all(isinstance(m, str) for m in messages)
    for generation, message in zip(policy.last, messages, strict=True):
        assert generation.text == message
        assert 0 < len(generation.completion_ids) == len(generation.logprobs) <= 8
        assert all(lp <= 0.0 for lp in generation.logprobs)
        assert processor.image_token_id in generation.prompt_ids
        assert processor.tokenizer.pad_token_id not in generation.prompt_ids[:1]


def test_greedy_batch_equals_one_at_a_time(tiny):
    model, processor = tiny
    policy = TransformersVLMPolicy(model, processor, max_new_tokens=6)
    obs, infos = observations(3)
    together = policy.generate(obs, infos)
    for i in range(3):
        alone = policy.generate([obs[i]], [infos[i]])[0]
        assert alone.completion_ids == together[i].completion_ids
        assert alone.logprobs == pytest.approx(together[i].logprobs, abs=1e-4)


def test_logprobs_are_those_of_a_forward_pass_over_prompt_and_completion(tiny):
    model, processor = tiny
    policy = TransformersVLMPolicy(model, processor, max_new_tokens=5)
    obs, infos = observations(1)
    generation = policy.generate(obs, infos)[0]
    batch = encode(processor, [infos[0]["messages"]], [obs[0]["images"]])
    completion = torch.tensor([generation.completion_ids])
    batch["input_ids"] = torch.cat([batch["input_ids"], completion], dim=1)
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])
    batch.pop("mm_token_type_ids", None)
    with torch.no_grad():
        logits = model(**batch).logits[0]
    start = batch["input_ids"].shape[1] - completion.shape[1]
    logprobs = logits[start - 1 : -1].log_softmax(-1)
    expected = logprobs.gather(-1, completion[0].unsqueeze(-1)).squeeze(-1)
    # Cached incremental decoding and one full pass differ by float32 rounding only.
    assert generation.logprobs == pytest.approx(expected.tolist(), abs=1e-3)


def test_sampling_is_seeded(tiny):
    model, processor = tiny
    obs, infos = observations(2)
    runs = []
    for _ in range(2):
        policy = TransformersVLMPolicy(model, processor, max_new_tokens=6, temperature=1.0, seed=7)
        runs.append([g.completion_ids for g in policy.generate(obs, infos)])
    assert runs[0] == runs[1]


def test_the_harness_runs_the_policy_like_any_other(tiny):
    model, processor = tiny
    policy = TransformersVLMPolicy(model, processor, max_new_tokens=8, name="tiny-random")
    ids = task_ids_for("ToolUse-Chart-v0", "test", limit=3)
    records = list(run_episodes("ToolUse-Chart-v0", policy, ids, max_turns=2))
    assert [r.task_id for r in records] == ids
    assert all(r.agent == "tiny-random" and r.turns in (1, 2) for r in records)
    # Generated tokens are counted into each record, at most 8 a message.
    assert all(r.turns <= r.tokens <= 8 * r.turns for r in records)


def test_the_shipped_tiny_vlm_loads_offline_and_acts(monkeypatch):
    from iapo_bench.baselines import make_agent
    from iapo_bench.baselines.vlm import TINY_VLM_PATH

    assert (TINY_VLM_PATH / "model.safetensors").stat().st_size < 20e6
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    policy = make_agent("tiny-vlm")
    assert policy.name == "tiny-vlm" and policy.model_name.endswith("tiny-vlm")
    obs, infos = observations(2)
    messages = policy.act(obs, infos)
    assert len(messages) == 2 and all(isinstance(m, str) for m in messages)
