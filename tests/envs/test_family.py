"""The task registry's cache: bounded in bytes, shared safely because tasks are immutable."""

import threading

import numpy as np
import pytest

from iapo_bench.core import AnswerType, Task
from iapo_bench.envs.family import TASK_CACHE, TaskCache, load_task


def task(key: str, side: int, source_side: int) -> Task:
    return Task(
        id=key,
        family="chart",
        version="v0",
        split="train",
        difficulty=0,
        seed=0,
        image=np.zeros((side, side, 3), np.uint8),
        render_source=lambda: np.zeros((source_side, source_side, 3), np.uint8),
        question="?",
        answer="1",
        answer_type=AnswerType.NUMBER,
        question_kind="value",
    )


def test_cache_evicts_least_recently_used_past_its_byte_bound():
    made = []

    def make(key):
        made.append(key)
        return task(key, 10, 30)  # 300 bytes shown, 2,700 once the source is rendered

    cache = TaskCache(max_bytes=1000)
    for key in "abc":
        cache.get_or_make(key, make)
    assert len(cache) == 3 and cache.nbytes == 900
    cache.get_or_make("a", make)  # a hit: "a" becomes the most recent
    cache.get_or_make("d", make)  # 1,200 bytes: "b", the least recent, goes
    assert made == ["a", "b", "c", "d"] and len(cache) == 3
    cache.get_or_make("b", make)
    assert made[-1] == "b"


def test_sources_rendered_after_caching_count_at_the_next_insertion():
    cache = TaskCache(max_bytes=4000)
    first = cache.get_or_make("a", lambda k: task(k, 10, 30))
    first.source_image  # noqa: B018  # a tool reads it: 3,000 bytes now
    cache.get_or_make("b", lambda k: task(k, 10, 30))
    assert cache.nbytes <= 4000 and len(cache) == 2
    cache.get_or_make("a", lambda k: task(k, 10, 30)).source_image  # noqa: B018
    cache.get_or_make("c", lambda k: task(k, 10, 30))  # 6,300 bytes: "b" then "a" go
    assert cache.nbytes <= 4000


def test_the_task_asked_for_is_never_evicted_even_when_alone_over_the_bound():
    cache = TaskCache(max_bytes=10)
    got = cache.get_or_make("big", lambda k: task(k, 10, 30))
    assert len(cache) == 1 and got is cache.get_or_make("big", lambda k: pytest.fail("miss"))


def test_entry_count_is_bounded_too():
    cache = TaskCache(max_bytes=10**9, max_entries=2)
    for key in "abc":
        cache.get_or_make(key, lambda k: task(k, 2, 2))
    assert len(cache) == 2


def test_bad_bounds_are_refused():
    with pytest.raises(ValueError, match="max_bytes"):
        TaskCache(max_bytes=0)


def test_load_task_shares_one_immutable_task_and_stays_within_the_default_bound():
    load_task.cache_clear()
    first = load_task("chart/v0/train/d1/3")
    assert load_task("chart/v0/train/d1/3") is first
    with pytest.raises(TypeError):
        first.data["categories"].append("poison")
    assert "poison" not in load_task("chart/v0/train/d1/3").data["categories"]
    for seed in range(40):
        load_task(f"ocr/v0/train/d1/{seed}").source_image  # noqa: B018  # 3x sources
    assert TASK_CACHE.nbytes <= TASK_CACHE.max_bytes


def test_concurrent_loads_agree():
    load_task.cache_clear()
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(load_task("chart/v0/train/d2/11")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r == results[0] for r in results)
