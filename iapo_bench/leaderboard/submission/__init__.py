r"""Leaderboard submissions that anyone can check: the agent's actions, replayed by the board.

Every env is deterministic, so a submission carries what the agent *wrote*, not only its
scores: the board replays each episode through the env (``reset`` on the task id, ``step``
each action in order) and recomputes every reward and tool outcome with the env's own
rubric. Self-reported numbers are accepted only as a summary, marked unverified.

The file (one file, so that it travels, is hashed and is stored whole) is UTF-8 CSV
(RFC 4180 quoting; a UTF-8 byte-order mark, as spreadsheets write, is allowed) that starts
with a **manifest block**: one row per field, ``#field,env_id,value``, the ``env_id`` cell
empty for the run-wide fields. Then the header and **one row per (env id, task id, repeat,
turn)** with the action text::

    #format,,iapo-bench-submission/1
    #agent,,my-agent
    #model,,Qwen/Qwen2.5-VL-3B-Instruct
    #submitter,,Jane Doe
    #date,,2026-12-02T06:43:49+00:00
    #max_turns,,4
    #env_version_hash,ToolUse-Chart-v0,10286b7b84654245
    #test_list_hash,ToolUse-Chart-v0,<the frozen test list's content hash>
    #claimed_score,ToolUse-Chart-v0,0.734
    env_id,task_id,repeat,turn,action,score,tool_calls,tool_errors
    ToolUse-Chart-v0,chart/v0/test/d0/2000000000,0,0,"<tool_call>...</tool_call>",,,
    ToolUse-Chart-v0,chart/v0/test/d0/2000000000,0,1,<answer>35601</answer>,1.0,1,0

A header block rather than a sidecar file: one file cannot lose its manifest, opens in any
spreadsheet, and is what ``iapo-bench submit FILE.csv`` takes. Manifest fields: ``format``
(required, :data:`FORMAT`), ``agent`` (required), ``model``, ``submitter``,
``package_version`` (optional), ``date`` (required, ISO 8601), ``max_turns`` (required: the
turn limit the episodes were played and are replayed with), and per env id:
``env_version_hash`` and ``test_list_hash`` (both required: they name the exact env version
and frozen test list), ``claimed_score`` (optional: the mean score the submitter claims).
Columns ``repeat`` and ``turn`` are 0-based. The optional claim columns ``score``,
``tool_calls`` and ``tool_errors`` may be filled on an episode's last row only.

Verification (:func:`verify_submission`) reports **every problem with its row and column**
(``row`` counts the file's CSV records from 1, manifest rows included, as a spreadsheet
numbers them; encoding problems, found before any record is read, give the ``line``):

- encoding: UTF-8 only (a UTF-16 or UTF-32 file, invalid UTF-8 or a NUL byte is refused);
- size: the file's bytes, its rows, repeats, ``max_turns`` and each action's length against
  the env's ``max_action_length`` (:class:`Limits`);
- schema and types: manifest fields, columns, whole numbers, finite scores, ranges;
- env ids and hashes: unknown env ids, and version or test-list hashes other than the ones
  this board runs (stale);
- coverage: every task of each env's frozen test list (or, with ``allow_partial``, its
  first N tasks), the same repeats for every task, turns 0..n-1 of each episode, nothing
  duplicated;
- then the replay: each episode must end (answer or turn limit) exactly at its last row,
  and every claim (the manifest's mean score, each episode's score, tool calls and tool
  errors) must match what the replay computes; a disagreement rejects the file with the
  episodes that differ.

A **summary-only** file (the columns of ``summary.csv``, :data:`SUMMARY_COLUMNS`) is checked
for schema, types, ranges and current env hashes, and accepted as ``"unverified"``.

**Formula injection.** Every text cell this package writes goes through :func:`escape_cell`:
a cell that a spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) gets a leading apostrophe. The escape is reversible, so
replays stay exact: reading applies :func:`unescape_cell` to every cell (an apostrophe
followed by one of those characters or by another apostrophe is dropped). Write ``''x`` for
a cell whose text is ``'x`` followed by such a character.

A message that holds NUL cannot be written to a submission (the format refuses NUL); the
export names such episodes.

The package's modules, each importing only those listed before it:

- :mod:`~iapo_bench.leaderboard.submission.cells`: the CSV cell layer (formula escaping,
  exact number cells, whole-file writes), shared with every CSV file the board writes;
- :mod:`~iapo_bench.leaderboard.submission.model`: the values (limits, problems, manifest,
  rows, episodes, verdicts), the content hash and the canonical writer;
- :mod:`~iapo_bench.leaderboard.submission.read`: reading and validating a file;
- :mod:`~iapo_bench.leaderboard.submission.replay`: the replay and :func:`verify_submission`;
- :mod:`~iapo_bench.leaderboard.submission.export`: a run folder's agent as a file.

>>> escape_cell("=SUM(A1:A9)"), unescape_cell(escape_cell("=SUM(A1:A9)"))
("'=SUM(A1:A9)", '=SUM(A1:A9)')
"""

from __future__ import annotations

from iapo_bench.leaderboard.records import read_run
from iapo_bench.leaderboard.submission.cells import escape_cell, unescape_cell
from iapo_bench.leaderboard.submission.export import export_submission
from iapo_bench.leaderboard.submission.model import (
    ACTION_COLUMNS,
    CLAIM_COLUMNS,
    EPISODE_CLAIM_TOLERANCE,
    FORMAT,
    MEAN_CLAIM_TOLERANCE,
    ActionRow,
    EnvResult,
    Episode,
    Limits,
    Manifest,
    Problem,
    ReplayedEpisode,
    Submission,
    SummarySubmission,
    Verdict,
    actions_hash,
)
from iapo_bench.leaderboard.submission.read import read_submission
from iapo_bench.leaderboard.submission.replay import replay_submission, verify_submission

__all__ = [
    "ACTION_COLUMNS",
    "CLAIM_COLUMNS",
    "EPISODE_CLAIM_TOLERANCE",
    "FORMAT",
    "MEAN_CLAIM_TOLERANCE",
    "ActionRow",
    "EnvResult",
    "Episode",
    "Limits",
    "Manifest",
    "Problem",
    "ReplayedEpisode",
    "Submission",
    "SummarySubmission",
    "Verdict",
    "actions_hash",
    "escape_cell",
    "export_submission",
    "read_run",
    "read_submission",
    "replay_submission",
    "unescape_cell",
    "verify_submission",
]
