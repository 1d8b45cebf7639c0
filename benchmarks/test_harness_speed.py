"""Speed of the evaluation harness: its overhead over a bare env loop, and worker scaling.

- ``test_harness_overhead``: ``run_episodes`` with a null policy (it answers at once) on
  tasks already generated, against the floor measured in the same run: a bare loop of
  ``env.reset(task_id)`` and ``env.step`` over the same tasks, with no records. The ratio
  (harness over floor) is ``extra_info["ratio"]``; the goal is at most 1.10. Beside it:
  ``cpu_ratio``, the same in this process's CPU time (steadier on a shared machine),
  ``ratio_batch_1``, the harness with one episode in flight (the floor's own shape), and the
  page faults per episode of each loop (``faults_per_episode``, ``floor_faults_per_episode``):
  sixteen episodes in flight hold sixteen observations, whose image copies (the env's) the
  allocator may hand back to the system between batches and fault in again.
- ``test_worker_scaling``: ``evaluate`` of the oracle on fresh OCR tasks (generation is
  CPU-bound) with one process, then with two worker processes; ``extra_info["speedup"]`` is
  episodes/s with two over episodes/s with one (the goal is at least 1.7x on two cores).
  Beside it: ``first_record_s_1`` and ``first_record_s_2`` (what starting costs: the workers
  import the package) and ``speedup_steady``, the same ratio between the end of the second
  batch and the last record, once the workers are up.
"""

import resource
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

    def harness(batch_size=16):
        return list(run_episodes(ENV, NullPolicy(), ids, batch_size=batch_size))

    records = benchmark(harness)
    assert len(records) == len(ids)
    loops = {"floor": bare, "harness": harness, "batch_1": lambda: harness(1)}
    seconds, cpu, faults = ({name: [] for name in loops} for _ in range(3))
    for _ in range(5 if not benchmark.disabled else 1):
        for name, loop in loops.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            began, began_cpu = time.perf_counter(), time.process_time()
            loop()
            seconds[name].append(time.perf_counter() - began)
            cpu[name].append(time.process_time() - began_cpu)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    floor = statistics.median(seconds["floor"])
    info = benchmark.extra_info
    info["floor_ms_per_episode"] = 1000 * floor / len(ids)
    info["ratio"] = statistics.median(seconds["harness"]) / floor
    info["ratio_batch_1"] = statistics.median(seconds["batch_1"]) / floor
    # CPU time (user and system) of this process: on a machine shared with other jobs it
    # moves far less than wall time does.
    info["cpu_ratio"] = statistics.median(cpu["harness"]) / statistics.median(cpu["floor"])
    info["faults_per_episode"] = statistics.median(faults["harness"]) / len(ids)
    info["floor_faults_per_episode"] = statistics.median(faults["floor"]) / len(ids)


def test_worker_scaling(benchmark):
    ids_count = 160 if not benchmark.disabled else 24
    batch_size = 8
    seconds, arrivals = {}, {}

    def run(workers: int, seed: int) -> float:
        times = arrivals[workers] = []
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()

            def arrived(_record) -> None:
                times.append(time.perf_counter() - began)

            # Validation tasks from a fresh seed: nothing is cached in either process.
            evaluate(["ToolUse-OCR-v0"], [make_agent("oracle")], Path(folder),
                     split="validation", limit=ids_count, seed=seed, workers=workers,
                     batch_size=batch_size, on_episode=arrived).close()  # fmt: skip
            return time.perf_counter() - began

    def steady_rate(times: list[float]) -> float:
        """Episodes/s from the end of the second batch to the last record."""
        after = 2 * batch_size
        return (len(times) - after) / (times[-1] - times[after - 1])

    seconds[1] = run(1, 10_000)
    seconds[2] = benchmark.pedantic(run, args=(2, 20_000), rounds=1, iterations=1)
    benchmark.extra_info["episodes_per_s_1"] = ids_count / seconds[1]
    benchmark.extra_info["episodes_per_s_2"] = ids_count / seconds[2]
    benchmark.extra_info["speedup"] = seconds[1] / seconds[2]
    benchmark.extra_info["first_record_s_1"] = arrivals[1][0]
    benchmark.extra_info["first_record_s_2"] = arrivals[2][0]
    benchmark.extra_info["speedup_steady"] = steady_rate(arrivals[2]) / steady_rate(arrivals[1])
