"""A genuine run and its oracle submission, shared by the submission tests."""

import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.leaderboard import evaluate
from iapo_bench.leaderboard.submission import export_submission
from tests.leaderboard.submission.files import CHART, SEARCH


@pytest.fixture(scope="package")
def run_dir(tmp_path_factory):
    """A genuine run: oracle and random on the first 3 tasks of chart and search."""
    out = tmp_path_factory.mktemp("run")
    agents = [make_agent("oracle"), make_agent("random")]
    evaluate([CHART, SEARCH], agents, out, limit=3).close()
    return out


@pytest.fixture(scope="package")
def oracle_file(run_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("sub") / "oracle.csv"
    export_submission(run_dir, path, agent="oracle", submitter="Ada")
    return path
