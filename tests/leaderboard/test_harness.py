import json

import pandas as pd
import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.core import PolicyFailure
from iapo_bench.leaderboard import (
    SUMMARY_COLUMNS,
    ResultsWriter,
    evaluate,
    run_episodes,
    task_ids_for,
)

ENV = "ToolUse-Chart-v0"


def test_task_ids_for_test_split_is_the_frozen_list():
    ids = task_ids_for(ENV, "test")
    assert len(ids) == 500
    assert task_ids_for(ENV, "test", limit=7) == ids[:7]
    assert all(i.startswith("chart/v0/test/") for i in ids)


def test_task_ids_for_other_splits_are_seeded_and_cycle_difficulty():
    ids = task_ids_for(ENV, "validation", limit=5, seed=10)
    assert ids == [
        "chart/v0/validation/d0/1000000010",
        "chart/v0/validation/d1/1000000011",
        "chart/v0/validation/d2/1000000012",
        "chart/v0/validation/d3/1000000013",
        "chart/v0/validation/d0/1000000014",
    ]


def test_evaluate_writes_episodes_summary_and_metadata(tmp_path):
    writer = evaluate([ENV], [make_agent("oracle"), make_agent("random")], tmp_path, limit=6)
    writer.close()
    lines = (tmp_path / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 12
    summary = pd.read_csv(tmp_path / "summary.csv")
    components = ["reward_exact_match", "reward_relaxed_accuracy"]
    assert list(summary.columns) == [*SUMMARY_COLUMNS, *components]
    assert set(summary["agent"]) == {"oracle", "random"}
    assert summary.set_index("agent").loc["oracle", "score"] == 1.0
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["env_version_hashes"][ENV] == summary["env_version_hash"].iloc[0]
    assert meta["rubric"][ENV] == "relaxed_accuracy:1,exact_match:0"
    assert meta["agents"] == ["oracle", "random"]
    assert "gymnasium" in meta["libraries"]


def test_a_rubric_spec_scores_every_env_and_is_recorded(tmp_path):
    rubric = "exact_match:1,format_valid:0.1,tool_success:0,right_tool:0"
    evaluate([ENV], [make_agent("oracle")], tmp_path, limit=4, rubric=rubric).close()
    summary = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert summary["score"] == pytest.approx(1.1)  # exact match + 0.1 for valid format
    assert summary["reward_tool_success"] == 1.0 and summary["reward_right_tool"] == 1.0
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["rubric"][ENV] == rubric
    with pytest.raises(ValueError, match="rubric"):  # resuming under another rubric
        evaluate([ENV], [make_agent("oracle")], tmp_path, limit=4, rubric="exact_match:1")
    with pytest.raises(ValueError, match="unknown reward 'bleu'"):
        evaluate([ENV], [make_agent("oracle")], tmp_path / "new", rubric="bleu:1")


def test_an_interrupted_run_resumes_without_repeating_episodes(tmp_path):
    evaluate([ENV], [make_agent("random")], tmp_path, limit=8).close()
    path = tmp_path / ResultsWriter.EPISODES
    full = path.read_text().splitlines()
    path.write_text("\n".join(full[:3]) + "\n" + full[3][:25])  # killed while writing episode 4
    played = []
    evaluate([ENV], [make_agent("random")], tmp_path, limit=8, on_episode=played.append).close()
    assert len(played) == 5
    resumed = path.read_text().splitlines()
    assert resumed[:3] == full[:3]

    def without_latency(lines):
        return sorted(json.dumps(json.loads(line) | {"latency_s": 0}) for line in lines)

    # The same episodes: the random agent is seeded per task.
    assert without_latency(resumed) == without_latency(full)


def test_resuming_a_different_run_is_refused(tmp_path):
    evaluate([ENV], [make_agent("oracle")], tmp_path, limit=2).close()
    with pytest.raises(ValueError, match="max_turns"):
        evaluate([ENV], [make_agent("oracle")], tmp_path, limit=2, max_turns=3)


def test_results_do_not_depend_on_batch_size():
    ids = task_ids_for(ENV, "test", limit=20)
    one = [r.score for r in run_episodes(ENV, make_agent("random"), ids, batch_size=1)]
    many = [r for r in run_episodes(ENV, make_agent("random"), ids, batch_size=7)]
    by_task = {r.task_id: r.score for r in many}
    assert [by_task[i] for i in ids] == one


def test_repeats_reseed_the_random_agent(tmp_path):
    writer = evaluate([ENV], [make_agent("random")], tmp_path, limit=10, repeats=2)
    writer.close()
    first = [r.messages for r in writer.records if r.repeat == 0]
    second = [r.messages for r in writer.records if r.repeat == 1]
    assert len(first) == len(second) == 10
    assert first != second


class MiscountingPolicy:
    name = "broken"

    def act(self, observations, infos):
        return ["<answer>1</answer>"] * (len(observations) + 1)


def test_a_policy_returning_the_wrong_number_of_actions_is_an_error():
    with pytest.raises(RuntimeError, match="returned 3 actions for 2 observations"):
        list(run_episodes(ENV, MiscountingPolicy(), task_ids_for(ENV, "test", limit=2)))


# --- infrastructure errors --------------------------------------------------------------------


class FlakyEndpoint:
    """The oracle behind an endpoint that fails some messages until it is 'back up'."""

    name = "flaky"

    def __init__(self):
        self.up = False
        self.oracle = make_agent("oracle")

    def act(self, observations, infos):
        actions = self.oracle.act(observations, infos)
        return [
            a if self.up or int(info["task_id"].rsplit("/", 1)[1]) % 2 == 0 or info["turn"] == 0
            else PolicyFailure(error="APIConnectionError: Connection refused (after 4 attempts)")
            for a, info in zip(actions, infos, strict=True)
        ]  # fmt: skip


def test_an_endpoint_failure_is_an_infrastructure_error_replayed_on_resume(tmp_path):
    policy = FlakyEndpoint()
    writer = evaluate([ENV], [policy], tmp_path, limit=6)
    writer.close()
    failed = [r for r in writer.records if r.status == "infrastructure_error"]
    assert len(failed) == 3  # the odd seeds failed on their second message
    for r in failed:
        assert r.score is None and r.error.startswith("policy: APIConnectionError")
        assert r.turns == 1 and r.tool_calls == 1  # what was played is kept for audit
    row = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert row["episodes"] == 3 and row["infrastructure_errors"] == 3 and row["score"] == 1.0
    policy.up = True
    played = []
    evaluate([ENV], [policy], tmp_path, limit=6, on_episode=played.append).close()
    assert sorted(r.task_id for r in played) == sorted(r.task_id for r in failed)
    row = pd.read_csv(tmp_path / "summary.csv").iloc[0]
    assert row["episodes"] == 6 and row["infrastructure_errors"] == 0 and row["score"] == 1.0


# --- metadata that accumulates and refuses any mix ------------------------------------------------

OCR = "ToolUse-OCR-v0"


def test_metadata_accumulates_every_env_and_command_and_refuses_a_mix(tmp_path):
    oracle = make_agent("oracle")
    evaluate([ENV, OCR], [oracle], tmp_path, limit=2, command=["first"]).close()
    evaluate([OCR], [oracle], tmp_path, limit=3, command=["second"]).close()  # fewer envs
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert set(meta["env_version_hashes"]) == set(meta["rubric"]) == {ENV, OCR}
    assert [c["argv"] for c in meta["commands"]] == [["first"], ["second"]]
    # Another rubric for the env left out of the last resume is still refused.
    with pytest.raises(ValueError, match=r"rubric\['ToolUse-Chart-v0'\]"):
        evaluate([ENV], [oracle], tmp_path, limit=2, rubric="exact_match:1")
    with pytest.raises(ValueError, match="seed"):
        evaluate([OCR], [oracle], tmp_path, limit=2, seed=1)
    meta_after = json.loads((tmp_path / "metadata.json").read_text())
    assert meta_after == meta  # a refused resume changes nothing


def test_metadata_records_the_ocr_engine_and_agent_settings(tmp_path):
    evaluate([OCR], [make_agent("oracle")], tmp_path, limit=1).close()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["ocr_engine"]["engine"] == "rapidocr"
    assert meta["ocr_engine"]["det_model"].startswith("PP-OCRv6_det_small.onnx:")
    assert meta["agent_settings"] == {"oracle": {}} and meta["env_mismatch"] == {}
    assert meta["batch_size"] == 16


def test_scoring_the_frozen_list_on_other_bytes_is_refused_unless_allowed(tmp_path, monkeypatch):
    from iapo_bench.envs import family as family_module
    from iapo_bench.leaderboard import provenance

    real = family_module.rendering_environment()
    monkeypatch.setattr(provenance, "rendering_environment", lambda: real | {"pillow": "0.1"})
    with pytest.raises(provenance.EnvMismatchError, match=r"pillow frozen '[\d.]+', running '0.1'"):
        evaluate([ENV], [make_agent("oracle")], tmp_path, limit=1)
    assert not (tmp_path / "metadata.json").exists()
    evaluate([ENV], [make_agent("oracle")], tmp_path, limit=1, allow_env_mismatch=True).close()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["env_mismatch"][ENV]["pillow"] == [real["pillow"], "0.1"]
    # Off the test split there is no frozen list to compare with.
    evaluate([ENV], [make_agent("oracle")], tmp_path / "v", split="validation", limit=1).close()


# --- envs kept from call to call ------------------------------------------------------------


def _made(monkeypatch):
    """A list that grows by one for every env ``gym.make`` builds from now on."""
    import gymnasium as gym

    made, make = [], gym.make

    def counting(*args, **kwargs):
        made.append(args[0])
        return make(*args, **kwargs)

    monkeypatch.setattr(gym, "make", counting)
    return made


def _played(ids, **options):
    records = run_episodes(ENV, make_agent("random"), ids, **options)
    return [r.model_dump() | {"latency_s": 0} for r in records]


def test_envs_are_made_once_and_reused_envs_play_as_new_ones(monkeypatch):
    from iapo_bench.leaderboard.harness import _IDLE_ENVS

    ids = task_ids_for(ENV, "test", limit=12)
    _IDLE_ENVS.clear()
    made = _made(monkeypatch)
    fresh = _played(ids, batch_size=5)
    assert len(made) == 5
    # Other settings in between: their envs are others; these are left mid-episode.
    _played(ids[:4], batch_size=4, max_turns=2)
    records = run_episodes(ENV, make_agent("random"), ids, batch_size=5)
    next(records)
    records.close()
    assert len(made) == 9
    assert _played(ids, batch_size=5) == fresh  # the same five envs, already used
    assert len(made) == 9


class FailingPolicy:
    name = "failing"

    def act(self, observations, infos):
        raise RuntimeError("the policy broke")


def test_envs_that_saw_an_error_are_not_reused(monkeypatch):
    from iapo_bench.leaderboard.harness import _IDLE_ENVS

    ids = task_ids_for(ENV, "test", limit=3)
    _IDLE_ENVS.clear()
    made = _made(monkeypatch)
    with pytest.raises(RuntimeError, match="the policy broke"):
        list(run_episodes(ENV, FailingPolicy(), ids))
    _played(ids)
    assert len(made) == 6


def test_idle_envs_are_bounded_and_the_least_recently_used_go_first(monkeypatch):
    from iapo_bench.envs import family_for_env_id
    from iapo_bench.leaderboard.harness import _IdleEnvs

    idle, family = _IdleEnvs(limit=4), family_for_env_id(ENV)
    made = _made(monkeypatch)
    first, second = (ENV, 4, None), (ENV, 3, None)
    idle.give_back(first, family, idle.take(first, family, 3))
    idle.give_back(second, family, idle.take(second, family, 3))  # 6 idle: 2 of `first` go
    assert len(made) == 6
    assert [e.unwrapped.max_turns for e in idle.take(second, family, 3)] == [3, 3, 3]
    assert len(idle.take(first, family, 3)) == 3 and len(made) == 8
    idle.clear()
