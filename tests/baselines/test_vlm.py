"""The transformers VLM policy, on a random-weight tiny Qwen2.5-VL and real env observations."""

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import iapo_bench.envs  # noqa: E402, F401  (registers the ids)
from iapo_bench.baselines import OracleAgent  # noqa: E402
from iapo_bench.baselines.vlm import TransformersVLMPolicy  # noqa: E402
from iapo_bench.leaderboard import run_episodes, task_ids_for  # noqa: E402
from iapo_bench.models.generate import suppressed_token_ids  # noqa: E402
from iapo_bench.models.inputs import encode  # noqa: E402
from iapo_bench.models.logprobs import completion_logprobs  # noqa: E402
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


def second_turns(count: int):
    """Observations after one oracle call: two images each, the second returned by a tool."""
    env_ids = ["ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"]
    oracle = OracleAgent()
    obs_list, infos = [], []
    for i in range(count):
        env = gym.make(env_ids[i % 3]).unwrapped
        obs, info = env.reset(seed=i)
        obs, _, _, _, info = env.step(oracle.act([obs], [info])[0])
        obs_list.append(obs)
        infos.append(info)
    return obs_list, infos


def test_logprobs_are_those_of_one_forward_pass_over_prompt_and_completion(tiny):
    """Generation and scoring place tokens alike, even after a tool's image (3-D positions)."""
    model, processor = tiny
    policy = TransformersVLMPolicy(model, processor, max_new_tokens=5)
    obs, infos = second_turns(3)
    assert all(len(o["images"]) == 2 for o in obs)
    generations = policy.generate(obs, infos)
    batch = encode(processor, [i["messages"] for i in infos], [o["images"] for o in obs])
    completions = [g.completion_ids for g in generations]
    suppressed = suppressed_token_ids(processor.tokenizer)  # never sampled: not in the scores
    with torch.no_grad():
        scored = completion_logprobs(
            model, batch, completions, processor.tokenizer.pad_token_id, suppressed
        )
    for generation, logprobs in zip(generations, scored, strict=True):
        # Cached incremental decoding and one full pass differ by float32 rounding only
        # (about 1e-6); 1-D positions after the second image move them by far more.
        assert generation.logprobs == pytest.approx(logprobs.tolist(), abs=2e-5)


def test_scoring_refuses_an_image_batch_without_its_token_types(tiny):
    model, processor = tiny
    obs, infos = second_turns(1)
    batch = dict(encode(processor, [infos[0]["messages"]], [obs[0]["images"]]))
    batch.pop("mm_token_type_ids")
    with pytest.raises(ValueError, match="mm_token_type_ids"):
        completion_logprobs(model, batch, [[1, 2]], processor.tokenizer.pad_token_id)


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


def test_the_shipped_tiny_vlm_calls_a_tool_first_and_answers_after_the_reply():
    """What behaviour cloning taught it, on six tasks of the three envs, through env.step."""
    from iapo_bench.baselines.vlm import tiny_vlm_policy

    policy = tiny_vlm_policy()
    env_ids = ["ToolUse-Chart-v0", "ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"]
    envs = [gym.make(env_ids[i % 3]).unwrapped for i in range(6)]
    pairs = [env.reset(seed=100 + i) for i, env in enumerate(envs)]
    messages = policy.act([o for o, _ in pairs], [i for _, i in pairs])
    steps = [env.step(m) for env, m in zip(envs, messages, strict=True)]
    # A call of one of the task's tools gets the tool's reply.
    assert sum(info["messages"][-1]["role"] == "tool" for *_, info in steps) >= 5
    called = [(env, (obs, info)) for env, (obs, *_, info) in zip(envs, steps, strict=True)
              if info["messages"][-1]["role"] == "tool"]  # fmt: skip
    messages = policy.act([o for _, (o, _) in called], [i for _, (_, i) in called])
    answered = [env.step(m)[2] for (env, _), m in zip(called, messages, strict=True)]
    assert sum(answered) >= len(called) - 1
