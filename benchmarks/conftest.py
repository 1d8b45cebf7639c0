import itertools

import pytest

from iapo_bench.envs import get_family


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
