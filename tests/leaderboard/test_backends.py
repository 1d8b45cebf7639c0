import json

import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.leaderboard import evaluate, task_ids_for
from iapo_bench.leaderboard.backends import Batch, InProcess, WorkerPool, make_backend

CHART, OCR = "ToolUse-Chart-v0", "ToolUse-OCR-v0"


def _without_latency(path):
    return [json.loads(line) | {"latency_s": 0} for line in path.read_text().splitlines()]


def test_workers_write_the_same_records_in_the_same_order_as_one_process(tmp_path):
    # Two agents, two envs (OCR tasks are generated in the workers), several batches each.
    runs = {}
    for workers in (1, 2):
        agents = [make_agent("random"), make_agent("oracle")]
        folder = tmp_path / str(workers)
        evaluate(
            [CHART, OCR], agents, folder, split="validation", limit=7, batch_size=3,
            workers=workers, command=["test"],
        ).close()  # fmt: skip
        runs[workers] = _without_latency(folder / "episodes.jsonl")
    assert len(runs[1]) == 28
    assert runs[2] == runs[1]


def _dumps(batches_of_records):
    return [[r.model_dump() | {"latency_s": 0} for r in records] for records in batches_of_records]


def test_a_worker_pool_returns_each_batch_in_order_and_keeps_its_workers():
    ids = task_ids_for(CHART, "test", limit=8)
    batches = [Batch(0, CHART, tuple(ids[i : i + 2]), 0, 0, 4, None) for i in range(0, 8, 2)]
    here = _dumps(InProcess([make_agent("random")]).map(batches))
    pool = WorkerPool([make_agent("random")], workers=2, max_in_flight=1)
    try:
        assert _dumps(pool.map(batches)) == here
        workers = set(pool.pool._processes)
        assert _dumps(pool.map(batches[::-1])) == here[::-1]
        assert set(pool.pool._processes) == workers  # the same processes: started once a run
    finally:
        pool.close()


def test_make_backend_checks_its_arguments():
    assert isinstance(make_backend("local", [make_agent("random")], 1), InProcess)
    with pytest.raises(ValueError, match="backend must be 'local' or 'ray'"):
        make_backend("dask", [], 1)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        WorkerPool([], 0)
