"""The evaluation harness, result records and the results writer.

See :func:`iapo_bench.leaderboard.harness.evaluate` and
:mod:`iapo_bench.leaderboard.records` for the files a run writes and their columns.
"""

from iapo_bench.leaderboard.harness import evaluate, record_episode, run_episodes, task_ids_for
from iapo_bench.leaderboard.records import (
    SUMMARY_COLUMNS,
    EpisodeRecord,
    ResultsWriter,
    RunMetadata,
    summarize,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "EpisodeRecord",
    "ResultsWriter",
    "RunMetadata",
    "evaluate",
    "record_episode",
    "run_episodes",
    "summarize",
    "task_ids_for",
]
