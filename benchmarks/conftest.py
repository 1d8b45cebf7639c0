import itertools

import pytest

from iapo_bench.envs import get_family, load_task


@pytest.fixture
def fresh_seeds():
    """Seeds never generated before in this process, so the task cache cannot help."""
    counter = itertools.count(10_000_000)
    return lambda: next(counter)


@pytest.fixture(autouse=True)
def _clear_task_cache():
    load_task.cache_clear()
    yield


@pytest.fixture(scope="session")
def chart():
    return get_family("chart")
