"""Speed of the board's replay verification (``verify_submission``), in episodes per second.

A submission of the oracle's and one of the random agent's episodes on the first 40 tasks of
every env (120 episodes each; recorded once by a real run, untimed) is verified whole: read
and validated, every episode replayed through the env and re-scored, every claim compared.

The **floor** is the bare Gymnasium loop over the same actions, with nothing checked: make
each env, then ``reset`` on each task id and ``step`` each action. It is measured in the
same run, alternating with the verification, and the ratio is the median over rounds of
verification time over floor time: what reading, validating and checking add to the env's
own work.

Two cache states: ``warm`` (the tasks already generated in this process, as on a board that
just verified another file) and ``cold`` (the task cache cleared before each round, untimed,
as in a fresh ``iapo-bench submit`` process: every task is generated again, for both the
verification and its floor).

``extra_info``: ``episodes``, ``episodes_per_s`` (verification), ``floor_episodes_per_s`` and
``ratio``.
"""

import statistics
import time

import gymnasium as gym
import pytest

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent, RandomAgent
from iapo_bench.envs import env_ids, load_task
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.submission import (
    export_submission,
    read_submission,
    verify_submission,
)

TASKS = 40
ROUNDS = 5


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """The oracle's and the random agent's submission files, by agent name."""
    folder = tmp_path_factory.mktemp("replay")
    evaluate(env_ids(), [OracleAgent(), RandomAgent(seed=1)], folder / "run", limit=TASKS).close()
    paths = {}
    for agent in ("oracle", "random"):
        paths[agent] = folder / f"{agent}.csv"
        export_submission(folder / "run", paths[agent], agent=agent)
    return paths


def bare_loop(path):
    """The floor's work on a submission's actions: parsed here, untimed."""
    parsed, problems = read_submission(path, allow_partial=True)
    assert parsed is not None, problems
    max_turns = parsed.manifest.max_turns

    def work():
        envs = {e: gym.make(e, max_turns=max_turns).unwrapped for e in parsed.manifest.env_ids}
        for episode in parsed.episodes:
            env = envs[episode.env_id]
            env.reset(options={"task_id": episode.task_id})
            for row in episode.rows:
                env.step(row.action)
        for env in envs.values():
            env.close()

    return work, len(parsed.episodes)


@pytest.mark.parametrize("cache", ["warm", "cold"])
@pytest.mark.parametrize("agent", ["oracle", "random"])
def test_replay_verification(benchmark, submissions, agent, cache):
    path = submissions[agent]
    floor, episodes = bare_loop(path)

    def prepare():
        if cache == "cold":
            load_task.cache_clear()

    def setup():
        prepare()
        return (), {}

    verdicts = []
    benchmark.pedantic(
        lambda: verdicts.append(verify_submission(path, allow_partial=True)),
        setup=setup,
        rounds=ROUNDS,
        iterations=1,
    )
    assert verdicts[-1].status == "verified", verdicts[-1].problems
    assert len(verdicts[-1].episodes) == episodes
    verify_times, floor_times = [], []
    for _ in range(ROUNDS if not benchmark.disabled else 1):
        prepare()
        began = time.perf_counter()
        verify_submission(path, allow_partial=True)
        verify_times.append(time.perf_counter() - began)
        prepare()
        began = time.perf_counter()
        floor()
        floor_times.append(time.perf_counter() - began)
    verify_s, floor_s = statistics.median(verify_times), statistics.median(floor_times)
    benchmark.extra_info["episodes"] = episodes
    benchmark.extra_info["episodes_per_s"] = episodes / verify_s
    benchmark.extra_info["floor_episodes_per_s"] = episodes / floor_s
    benchmark.extra_info["ratio"] = statistics.median(
        v / f for v, f in zip(verify_times, floor_times, strict=True)
    )
