"""Throughput of the exact-match family and the process signals (trajectories per second).

- ``test_rubric_throughput``: a rubric of every string-matching and process reward scoring
  real oracle and random trajectories of all three envs (recorded once, untimed).
- ``test_trl_reward_throughput``: ``trl_reward("exact_match")`` on a batch of 256 completions,
  called as TRL's GRPOTrainer calls it.

Throughput is ``extra_info["per_second"]``; the LLM judge's is in ``test_judge_speed.py``.
"""

import gymnasium as gym
import pytest

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent, RandomAgent
from iapo_bench.envs import env_ids, load_task
from iapo_bench.rewards import Rubric, trl_reward

SPEC = (
    "relaxed_accuracy:1,exact_match:0,anls:0,multiple_choice:0,list_f1:0,format_valid:0,"
    "tool_call:0,tool_success:0,parse_errors:0,turns:0,execution_penalty:0,right_tool:0"
)


@pytest.fixture(scope="module")
def episodes():
    """(trajectory, task) pairs: 20 oracle and 20 random episodes per env."""
    pairs = []
    for env_id in env_ids():
        env = gym.make(env_id).unwrapped
        for agent in (OracleAgent(), RandomAgent(seed=1)):
            for seed in range(20):
                obs, info = env.reset(seed=seed)
                done = False
                while not done:
                    obs, _, terminated, truncated, info = env.step(agent.act([obs], [info])[0])
                    done = terminated or truncated
                pairs.append((info["trajectory"], load_task(info["task_id"])))
    return pairs


def test_rubric_throughput(benchmark, episodes):
    rubric = Rubric.parse(SPEC)
    results = benchmark(lambda: [rubric.score(t, task) for t, task in episodes])
    assert len(results) == len(episodes)
    stats = benchmark.stats
    if stats is not None:
        benchmark.extra_info["per_second"] = len(episodes) / stats.stats.median


def test_trl_reward_throughput(benchmark):
    reward = trl_reward("exact_match")
    completions = [f"The label reads {i}. <answer>{i:,}.0</answer>" for i in range(256)]
    columns = {"answer": [str(i) for i in range(256)], "answer_type": ["number"] * 256}
    scores = benchmark(
        lambda: reward(
            prompts=["Q"] * 256,
            completions=completions,
            completion_ids=[[0]] * 256,
            trainer_state=None,
            **columns,
        )
    )
    assert scores == [1.0] * 256
    stats = benchmark.stats
    if stats is not None:
        benchmark.extra_info["per_second"] = 256 / stats.stats.median
