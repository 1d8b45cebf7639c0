import itertools
import statistics
import time

import gymnasium as gym
import pytest

from iapo_bench.baselines import OracleAgent
from iapo_bench.envs import get_family, load_task


@pytest.fixture(scope="session")
def chart():
    return get_family("chart")


@pytest.fixture(scope="session")
def fresh_seeds():
    """Seeds never generated before in this process, per chart kind (seed % 9 is the kind)."""
    counters = {}

    def next_seed(kind_index: int) -> int:
        counter = counters.setdefault(kind_index, itertools.count(10_000_000 + kind_index, 9))
        return next(counter)

    return next_seed


@pytest.fixture(scope="session")
def oracle_episodes():
    """The paired oracle-episode benchmark every family's speed suite runs."""
    return _oracle_episodes


def _oracle_episodes(benchmark, env_id, next_task_id, floor, cold, rounds):
    """Time oracle episodes on fresh tasks, then pair a second set with their floors.

    ``next_task_id()`` names a task never generated before; ``cold()`` clears the caches
    (untimed) before each episode; ``floor(task)`` prepares, untimed, and returns the bare
    work the episode on ``task`` contains, which is then timed. The median floor and the
    median per-task ratio (episode over floor) go into ``extra_info``. The floor runs a
    moment after its episode, which can only flatter it: the ratio errs against us.
    """
    env = gym.make(env_id).unwrapped
    oracle = OracleAgent()
    rewards, ratios, floors = [], [], []

    def episode(task_id):
        obs, info = env.reset(options={"task_id": task_id})
        terminated = False
        while not terminated:
            obs, reward, terminated, _, info = env.step(oracle.act([obs], [info])[0])
        rewards.append(reward)

    def setup():
        cold()
        return (next_task_id(),), {}

    benchmark.pedantic(episode, setup=setup, rounds=rounds, iterations=1)
    for _ in range(rounds if not benchmark.disabled else 2):
        (task_id,), _ = setup()
        began = time.perf_counter()
        episode(task_id)
        spent = time.perf_counter() - began
        work = floor(load_task(task_id))
        began = time.perf_counter()
        work()
        floors.append(time.perf_counter() - began)
        ratios.append(spent / floors[-1])
    benchmark.extra_info["floor_ms"] = 1000 * statistics.median(floors)
    benchmark.extra_info["ratio"] = statistics.median(ratios)
    assert rewards and all(r == 1.0 for r in rewards)
