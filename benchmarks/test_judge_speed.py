"""Speed of the LLM judge: throughput against a local OpenAI-compatible server.

- ``test_judge_throughput``: 32 distinct answers a round, judged by an endpoint judge over
  HTTP on 127.0.0.1, whose server takes a fixed 20 ms per reply, at concurrency 1, 4 and 16,
  with no cache. ``extra_info`` holds items/s, the ideal (the 20 ms replies alone, in
  ``ceil(32 / concurrency)`` waves) and their ratio: what the client, the event loop and
  retries bookkeeping cost.
- ``test_judge_from_threads``: the same 32 answers, each judged by its own ``verdicts`` call
  from 16 threads at once (how the harness scores a batch of envs whose rubric is
  ``blocking``), at concurrency 16: the calls share the judge's loop and overlap.
- ``test_judge_cache_hits``: the same 32 answers read back from a warm SQLite cache, no
  request made.

The server is the tests' scripted one (``tests/rewards/openai_server.py``).
"""

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from iapo_bench.rewards.judge import JudgeInput, LLMJudge, OpenAIJudge
from tests.rewards.openai_server import OpenAIServer  # the repo root is on sys.path (root conftest)

pytest.importorskip("openai")

ITEMS = 32
REPLY_SECONDS = 0.020
ROUNDS = 5


@pytest.fixture(scope="module")
def server():
    with OpenAIServer(delay=REPLY_SECONDS) as running:
        yield running


@pytest.fixture(scope="module")
def inputs():
    return [
        JudgeInput(question="How many bars are there?", reference="5", prediction=str(n))
        for n in range(ITEMS)
    ]


def _throughput(benchmark, judge, inputs, ideal_seconds=None, rounds=ROUNDS):
    """Time ``judge.verdicts(inputs)``; items/s (and against the ideal) into extra_info."""
    spent = []

    def judge_all():
        began = time.perf_counter()
        verdicts = judge.verdicts(inputs)
        spent.append(time.perf_counter() - began)
        return verdicts

    verdicts = benchmark.pedantic(judge_all, rounds=rounds, iterations=1, warmup_rounds=1)
    median = statistics.median(spent)
    benchmark.extra_info["items_per_s"] = round(len(inputs) / median, 1)
    if ideal_seconds is not None:
        benchmark.extra_info["ideal_items_per_s"] = round(len(inputs) / ideal_seconds, 1)
        benchmark.extra_info["ratio"] = round(median / ideal_seconds, 3)
    return verdicts


@pytest.mark.parametrize("concurrency", [1, 4, 16])
def test_judge_throughput(benchmark, server, inputs, concurrency):
    backend = OpenAIJudge("judge-model", base_url=server.base_url)
    server.reset_counts()
    with LLMJudge(backend, concurrency=concurrency, cache_path=False) as judge:
        waves = math.ceil(ITEMS / concurrency)
        verdicts = _throughput(benchmark, judge, inputs, waves * REPLY_SECONDS)
    assert [v.score for v in verdicts] == [float(n == 5) for n in range(ITEMS)]
    assert not any(v.fallback for v in verdicts)
    assert server.max_in_flight <= concurrency
    benchmark.extra_info["max_in_flight"] = server.max_in_flight


def test_judge_from_threads(benchmark, server, inputs):
    backend = OpenAIJudge("judge-model", base_url=server.base_url)
    server.reset_counts()
    spent = []
    with (
        LLMJudge(backend, concurrency=16, cache_path=False) as judge,
        ThreadPoolExecutor(16) as pool,
    ):

        def judge_each():
            began = time.perf_counter()
            verdicts = [v for [v] in pool.map(lambda x: judge.verdicts([x]), inputs)]
            spent.append(time.perf_counter() - began)
            return verdicts

        verdicts = benchmark.pedantic(judge_each, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    ideal = math.ceil(ITEMS / 16) * REPLY_SECONDS
    median = statistics.median(spent)
    assert [v.score for v in verdicts] == [float(n == 5) for n in range(ITEMS)]
    assert 1 < server.max_in_flight <= 16
    benchmark.extra_info["items_per_s"] = round(ITEMS / median, 1)
    benchmark.extra_info["ideal_items_per_s"] = round(ITEMS / ideal, 1)
    benchmark.extra_info["ratio"] = round(median / ideal, 3)
    benchmark.extra_info["max_in_flight"] = server.max_in_flight


def test_judge_cache_hits(benchmark, server, inputs, tmp_path_factory):
    path = tmp_path_factory.mktemp("judge") / "judge.sqlite3"
    backend = OpenAIJudge("judge-model", base_url=server.base_url)
    with LLMJudge(backend, concurrency=16, cache_path=path) as judge:
        judge.verdicts(inputs)  # warm, untimed
        server.reset_counts()
        verdicts = _throughput(benchmark, judge, inputs, rounds=ROUNDS * 4)
    assert all(v.cached for v in verdicts)
    assert server.requests == 0
