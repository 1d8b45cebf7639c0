"""Speed of the evaluation harness: its overhead over a bare env loop, and worker scaling.

- ``test_harness_overhead``: ``run_episodes`` with a null policy (it answers at once) on
  tasks already generated, against the floor measured in the same run: a bare loop of
  ``env.reset(task_id)`` and ``env.step`` over the same tasks, with no records. The ratio
  (harness over floor) is ``extra_info["ratio"]``; the goal is at most 1.10.
- ``test_worker_scaling``: ``evaluate`` of the oracle on fresh OCR tasks (generation is
  CPU-bound) with one process, then with two worker processes; ``extra_info["speedup"]`` is
  episodes/s with two over episodes/s with one (the goal is at least 1.7x on two cores).
"""

import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import make_agent
from iapo_bench.envs import load_task
from iapo_bench.leaderboard import evaluate, run_episodes, task_ids_for

ENV = "ToolUse-Chart-v0"


class NullPolicy:
    """Answers every observation at once: the harness's own cost is all that is left."""

    name = "null"

    def act(self, observations, infos):
        return ["<answer>0</answer>"] * len(observations)


def test_harness_overhead(benchmark):
    ids = task_ids_for(ENV, "test", limit=200)
    for task_id in ids:  # generated once, untimed: both loops read the task cache
        load_task(task_id)
    env = gym.make(ENV).unwrapped

    def bare():
        for task_id in ids:
            env.reset(options={"task_id": task_id})
            env.step("<answer>0</answer>")

    def harness():
        return list(run_episodes(ENV, NullPolicy(), ids, batch_size=16))

    records = benchmark(harness)
    assert len(records) == len(ids)
    floors, runs = [], []
    for _ in range(3 if not benchmark.disabled else 1):
        began = time.perf_counter()
        bare()
        floors.append(time.perf_counter() - began)
        began = time.perf_counter()
        harness()
        runs.append(time.perf_counter() - began)
    benchmark.extra_info["floor_ms_per_episode"] = 1000 * statistics.median(floors) / len(ids)
    benchmark.extra_info["ratio"] = statistics.median(runs) / statistics.median(floors)


def test_worker_scaling(benchmark):
    ids_count = 160 if not benchmark.disabled else 24
    seconds = {}

    def run(workers: int, seed: int) -> float:
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()
            # Validation tasks from a fresh seed: nothing is cached in either process.
            evaluate(["ToolUse-OCR-v0"], [make_agent("oracle")], Path(folder),
                     split="validation", limit=ids_count, seed=seed, workers=workers,
                     batch_size=8).close()  # fmt: skip
            return time.perf_counter() - began

    seconds[1] = run(1, 10_000)
    seconds[2] = benchmark.pedantic(run, args=(2, 20_000), rounds=1, iterations=1)
    benchmark.extra_info["episodes_per_s_1"] = ids_count / seconds[1]
    benchmark.extra_info["episodes_per_s_2"] = ids_count / seconds[2]
    benchmark.extra_info["speedup"] = seconds[1] / seconds[2]
