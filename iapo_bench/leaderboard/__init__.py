"""The evaluation harness, result records and the results writer; submissions and the board.

See :func:`iapo_bench.leaderboard.harness.evaluate` and
:mod:`iapo_bench.leaderboard.records` for the files a run writes and their columns;
:mod:`~iapo_bench.leaderboard.submission` for the submission format and its verification by
replay, :mod:`~iapo_bench.leaderboard.board` for the board that stores accepted submissions,
:mod:`~iapo_bench.leaderboard.standings` for the leaderboard merged from the board and runs,
:mod:`~iapo_bench.leaderboard.stats` for its statistics and
:mod:`~iapo_bench.leaderboard.page` for its HTML page.
"""

from iapo_bench.leaderboard.board import Board
from iapo_bench.leaderboard.harness import evaluate, record_episode, run_episodes, task_ids_for
from iapo_bench.leaderboard.records import (
    SUMMARY_COLUMNS,
    EpisodeRecord,
    ResultsWriter,
    RunMetadata,
    summarize,
)
from iapo_bench.leaderboard.standings import Leaderboard, Standing, build_leaderboard
from iapo_bench.leaderboard.stats import (
    Comparison,
    Interval,
    bootstrap_ci,
    mean_pass_at_k,
    mean_pass_hat_k,
    paired_comparison,
    pass_at_k,
    pass_hat_k,
)
from iapo_bench.leaderboard.submission import (
    Manifest,
    Problem,
    Verdict,
    export_submission,
    verify_submission,
)

__all__ = [
    "SUMMARY_COLUMNS",
    "Board",
    "Comparison",
    "EpisodeRecord",
    "Interval",
    "Leaderboard",
    "Manifest",
    "Problem",
    "ResultsWriter",
    "RunMetadata",
    "Standing",
    "Verdict",
    "bootstrap_ci",
    "build_leaderboard",
    "evaluate",
    "export_submission",
    "mean_pass_at_k",
    "mean_pass_hat_k",
    "paired_comparison",
    "pass_at_k",
    "pass_hat_k",
    "record_episode",
    "run_episodes",
    "summarize",
    "task_ids_for",
    "verify_submission",
]
