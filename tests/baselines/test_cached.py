"""The policy-output cache: repeated prompts answered from disk, never across other weights."""

import pytest

from iapo_bench.baselines.cached import CachedPolicy, PolicyCache, cached
from iapo_bench.core import PolicyFailure
from iapo_bench.leaderboard import run_episodes, task_ids_for

ENV = "ToolUse-Chart-v0"


class Counting:
    """A greedy 'model' that answers with a counter: any regeneration shows."""

    name = "counting"
    model_name = "counting-model"

    def __init__(self, weights="w1", temperature=0.0, fail=False):
        self.calls = 0
        self.weights = weights
        self.temperature = temperature
        self.fail = fail
        self.last_usage = []

    @property
    def settings(self):
        return {"weights_sha256": self.weights, "temperature": self.temperature}

    def act(self, observations, infos):
        self.calls += len(observations)
        self.last_usage = [{"completion_tokens": 7} for _ in observations]
        if self.fail:
            return [PolicyFailure(error="down") for _ in observations]
        return [f"<answer>{self.calls}</answer>" for _ in observations]


def play(policy):
    return [r.messages for r in run_episodes(ENV, policy, task_ids_for(ENV, "test", limit=4))]


def test_a_rescore_is_answered_from_the_cache(tmp_path):
    cache = PolicyCache(tmp_path / "outputs.sqlite3")
    first_model = Counting()
    first = play(CachedPolicy(first_model, cache))
    again_model = Counting()
    again = CachedPolicy(again_model, cache)
    assert play(again) == first and again_model.calls == 0 and again.hits == 4
    assert again.last_usage[0]["completion_tokens"] == 7  # tokens as first made


def test_other_weights_under_the_same_name_are_generated_anew(tmp_path):
    cache = PolicyCache(tmp_path / "outputs.sqlite3")
    play(CachedPolicy(Counting(weights="w1"), cache))
    retrained = Counting(weights="w2")  # a training run overwrote its checkpoint
    play(CachedPolicy(retrained, cache))
    assert retrained.calls == 4


def test_sampling_policies_and_scripted_agents_are_not_wrapped(tmp_path):
    cache = PolicyCache(tmp_path / "outputs.sqlite3")
    assert isinstance(cached(Counting(), cache), CachedPolicy)
    sampler = Counting(temperature=0.7)
    assert cached(sampler, cache) is sampler
    assert cached(Counting(), None).__class__ is Counting

    class Scripted:
        name = "scripted"

    scripted = Scripted()
    assert cached(scripted, cache) is scripted


def test_failures_are_never_cached(tmp_path):
    cache = PolicyCache(tmp_path / "outputs.sqlite3")
    down = CachedPolicy(Counting(fail=True), cache)
    records = list(run_episodes(ENV, down, task_ids_for(ENV, "test", limit=2)))
    assert all(r.status == "infrastructure_error" for r in records)
    assert len(cache) == 0


def test_a_retrained_checkpoint_changes_the_weights_hash(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from iapo_bench.baselines.vlm import TransformersVLMPolicy
    from iapo_bench.models.load import load_vlm

    model, processor = load_vlm("random:64x1")
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    before = TransformersVLMPolicy.from_pretrained(str(tmp_path)).settings["weights_sha256"]
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    model.save_pretrained(tmp_path)  # overwritten in place, as a training run does
    after = TransformersVLMPolicy.from_pretrained(str(tmp_path)).settings["weights_sha256"]
    assert before != after
