"""Speed of the endpoint policy: throughput against a local OpenAI-compatible server.

- ``test_endpoint_throughput``: 32 chart observations a round (a second turn: the chart and a
  zoomed image, so two PNG data URLs a request), asked of a server on 127.0.0.1 that takes a
  fixed 20 ms per reply, at concurrency 1, 8 and 32. ``extra_info`` holds messages/s, the
  ideal (the 20 ms replies alone, in ``ceil(32 / concurrency)`` waves) and their ratio: what
  request building (PNG encoding), the client and the event loop cost.
- ``test_request_building``: building the 32 requests alone, one after the other (no HTTP):
  the PNG encoding and message conversion, which ``act`` runs in worker threads, each
  request sent as soon as it is built.

The server is the tests' scripted one (``tests/chat_server.py``).
"""

import json
import math
import statistics
import time

import gymnasium as gym
import pytest

import iapo_bench.envs  # noqa: F401  (registers the env ids)
from iapo_bench.baselines.endpoint import EndpointPolicy
from tests.chat_server import ChatServer  # the repo root is on sys.path (root conftest)

pytest.importorskip("openai")

OBSERVATIONS = 32
REPLY_SECONDS = 0.020
ROUNDS = 5


@pytest.fixture(scope="module")
def server():
    with ChatServer(delay=REPLY_SECONDS) as running:
        yield running


@pytest.fixture(scope="module")
def second_turns():
    """Observations and infos of chart episodes after one zoom."""
    env = gym.make("ToolUse-Chart-v0")
    zoom = json.dumps({"name": "zoom", "arguments": {"box": [0, 0, 200, 150]}})
    observations, infos = [], []
    for seed in range(OBSERVATIONS):
        env.reset(seed=seed)
        obs, _, _, _, info = env.step(f"<tool_call>\n{zoom}\n</tool_call>")
        observations.append(obs)
        infos.append(info)
    return observations, infos


@pytest.mark.parametrize("concurrency", [1, 8, 32])
def test_endpoint_throughput(benchmark, server, second_turns, concurrency):
    spent = []
    with EndpointPolicy("bench-model", base_url=server.base_url, concurrency=concurrency) as policy:

        def act():
            began = time.perf_counter()
            messages = policy.act(*second_turns)
            spent.append(time.perf_counter() - began)
            return messages

        messages = benchmark.pedantic(act, rounds=ROUNDS, iterations=1, warmup_rounds=1)
        assert messages == ["<answer>42</answer>"] * OBSERVATIONS
        assert policy.total_usage.failed == 0
    ideal = math.ceil(OBSERVATIONS / concurrency) * REPLY_SECONDS
    median = statistics.median(spent)
    benchmark.extra_info["messages_per_s"] = round(OBSERVATIONS / median, 1)
    benchmark.extra_info["ideal_messages_per_s"] = round(OBSERVATIONS / ideal, 1)
    benchmark.extra_info["ratio"] = round(median / ideal, 3)
    benchmark.extra_info["max_in_flight"] = server.max_in_flight


def test_request_building(benchmark, second_turns):
    policy = EndpointPolicy("bench-model", base_url="http://127.0.0.1:9/v1")

    def build_all():
        return [policy._request(o, i) for o, i in zip(*second_turns, strict=True)]

    requests = benchmark.pedantic(build_all, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert len(requests) == OBSERVATIONS
