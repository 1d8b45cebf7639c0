"""The values of a submission: its limits, problems, manifest, rows, episodes and verdict.

The parsed forms (:class:`Submission`, :class:`SummarySubmission`) write themselves back
in canonical form (cells escaped, claims included); :func:`actions_hash` is the content
hash by which a board stores the same actions once. The file format is described in
:mod:`iapo_bench.leaderboard.submission`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.leaderboard.submission.cells import atomic_text, csv_cell

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
]

FORMAT = "iapo-bench-submission/1"
"""The value of the manifest's ``format`` field this version reads and writes."""

ACTION_COLUMNS: tuple[str, ...] = ("env_id", "task_id", "repeat", "turn", "action")
"""The required columns of the action rows, in the order the export writes them."""

CLAIM_COLUMNS: tuple[str, ...] = ("score", "tool_calls", "tool_errors")
"""Optional columns: what the submitter claims for an episode, on its last row."""

EPISODE_CLAIM_TOLERANCE = 1e-6
"""How far an episode's claimed score may be from the replay's (the export writes exact
values; rubric totals are sums of a few weighted components)."""

MEAN_CLAIM_TOLERANCE = 5e-4
"""How far the manifest's claimed mean score may be from the replay's: a claim rounded to
three decimals, as the results table prints it, still agrees."""

_SHOWN = 5
"""How many ids a coverage problem quotes before saying how many more there are."""


class Limits(BaseModel):
    """The sizes a board accepts (defaults fit every shipped env at 16 repeats)."""

    model_config = ConfigDict(frozen=True)

    max_file_bytes: int = Field(default=64 * 2**20, ge=1, description="Largest file, bytes.")
    max_rows: int = Field(default=250_000, ge=1, description="Most action (or summary) rows.")
    max_repeats: int = Field(default=16, ge=1, description="Most repeats of a task.")
    max_turns: int = Field(default=16, ge=2, description="Largest turn limit a manifest sets.")
    max_text_length: int = Field(default=200, ge=1, description="Longest manifest text value.")
    action_slack: int = Field(
        default=256,
        ge=0,
        description="Characters an action may exceed the env's max_action_length by: the env "
        "keeps a message over its limit cut, with a marker, and a replay of that text is cut "
        "the same way, so run records hold actions a little longer than the limit.",
    )
    max_problems: int = Field(default=200, ge=1, description="Problems listed before a count.")


class Problem(BaseModel):
    """One thing wrong with a submission, where it is and why."""

    model_config = ConfigDict(frozen=True)

    message: str = Field(description="What is wrong, in one line.")
    row: int | None = Field(default=None, description="CSV record number, from 1.")
    column: str | None = Field(default=None, description="Column (or manifest cell) name.")
    line: int | None = Field(default=None, description="Physical line, for encoding problems.")

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class _Problems:
    """Collects problems up to a limit, then counts the rest."""

    def __init__(self, limit: int) -> None:
        self.items: list[Problem] = []
        self.limit = limit
        self.more = 0

    def add(
        self,
        message: str,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
    ) -> None:
        if len(self.items) < self.limit:
            self.items.append(Problem(message=message, row=row, column=column, line=line))
        else:
            self.more += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def result(self) -> tuple[Problem, ...]:
        more = [Problem(message=f"... and {self.more} more problems")] if self.more else []
        return (*self.items, *more)


def _some(items: Sequence[str]) -> str:
    """The first few of ``items``, then how many more."""
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


class Manifest(BaseModel):
    """What a submission says about itself (its manifest block)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["iapo-bench-submission/1"] = Field(
        default=FORMAT, description="The submission format."
    )
    agent: str = Field(min_length=1, description="The agent's name, as the board shows it.")
    model: str | None = Field(default=None, description="The model behind it, if any.")
    submitter: str | None = Field(default=None, description="Who submits it.")
    package_version: str | None = Field(default=None, description="iapo-bench's version used.")
    date: str = Field(description="When the episodes were played, ISO 8601.")
    max_turns: int = Field(ge=2, description="Turn limit of every episode.")
    env_version_hashes: dict[str, str] = Field(description="Env version hash per env id.")
    test_list_hashes: dict[str, str] = Field(description="Frozen test list hash per env id.")
    claimed_scores: dict[str, float] = Field(
        default_factory=dict, description="The mean score claimed per env id (optional)."
    )

    @property
    def env_ids(self) -> list[str]:
        """The env ids the submission covers, in manifest order."""
        return list(self.env_version_hashes)


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One row of actions: what the agent wrote at one turn of one episode, and claims."""

    row: int
    """CSV record number in the file (0 for rows made in memory)."""
    env_id: str
    task_id: str
    repeat: int
    turn: int
    action: str
    score: float | None = None
    tool_calls: int | None = None
    tool_errors: int | None = None

    @property
    def claims(self) -> bool:
        """Whether the row claims anything."""
        return self.score is not None or self.tool_calls is not None or self.tool_errors is not None


@dataclass(frozen=True, slots=True)
class Episode:
    """The rows of one episode, in turn order."""

    env_id: str
    task_id: str
    repeat: int
    rows: tuple[ActionRow, ...]

    @property
    def key(self) -> tuple[str, str, int]:
        """``(env_id, task_id, repeat)``."""
        return (self.env_id, self.task_id, self.repeat)


def actions_hash(rows: Iterable[tuple[str, str, int, int, str]]) -> str:
    """SHA-256 of ``(env_id, task_id, repeat, turn, action)`` rows, in a canonical order.

    The content hash of a submission: the same actions are the same submission, whatever
    its manifest or claims say, and whatever order its rows come in.

    >>> a = actions_hash([("E", "t", 0, 0, "x"), ("E", "t", 0, 1, "y")])
    >>> a == actions_hash([("E", "t", 0, 1, "y"), ("E", "t", 0, 0, "x")]), len(a)
    (True, 64)
    """
    digest = hashlib.sha256(b"actions\n")
    for cells in sorted(rows, key=lambda r: (r[0], r[1], r[2], r[3])):
        digest.update(json.dumps(list(cells), ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


class Submission(BaseModel):
    """A parsed, validated submission of actions (before its replay)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    manifest: Manifest = Field(description="Its manifest.")
    episodes: tuple[Episode, ...] = Field(description="Episodes in env, frozen-list, repeat order.")
    partial: bool = Field(default=False, description="Covers only a prefix of some test list.")
    claim_rows: dict[str, int] = Field(
        default_factory=dict, description="The manifest row of each env's claimed score."
    )

    @functools.cached_property
    def content_hash(self) -> str:
        """:func:`actions_hash` of its rows: a board stores the same actions once."""
        return actions_hash(
            (r.env_id, r.task_id, r.repeat, r.turn, r.action) for e in self.episodes for r in e.rows
        )

    @functools.cached_property
    def env_hashes(self) -> dict[str, str]:
        """:func:`actions_hash` of each env's rows, by env id in manifest order.

        What the leaderboard matches a run folder's episodes of one agent on one env
        against, so a submission of some of a run's envs still matches those envs.
        """
        rows: dict[str, list[tuple[str, str, int, int, str]]] = {}
        for episode in self.episodes:
            rows.setdefault(episode.env_id, []).extend(
                (r.env_id, r.task_id, r.repeat, r.turn, r.action) for r in episode.rows
            )
        return {e: actions_hash(rows[e]) for e in self.manifest.env_ids if e in rows}

    def write(self, path: str | Path) -> None:
        """Write the submission in its canonical form (escaped, claims included)."""
        _write_submission(Path(path), self.manifest, (r for e in self.episodes for r in e.rows))


class SummarySubmission(BaseModel):
    """A parsed, validated summary-only submission (rows of ``summary.csv``)."""

    model_config = ConfigDict(frozen=True)

    columns: tuple[str, ...] = Field(description="Its columns, in file order.")
    rows: tuple[dict[str, Any], ...] = Field(description="One row per (agent, env id).")

    @functools.cached_property
    def content_hash(self) -> str:
        """SHA-256 of the rows (sorted by agent and env id), whatever their file order."""
        digest = hashlib.sha256(b"summary\n")
        for row in sorted(self.rows, key=lambda r: (r["agent"], r["env_id"])):
            digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")
        return digest.hexdigest()

    def write(self, path: str | Path) -> None:
        """Write the rows as CSV, text escaped, missing numbers as empty cells."""
        with atomic_text(Path(path)) as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            for row in self.rows:
                writer.writerow([csv_cell(row.get(c)) for c in self.columns])


class ReplayedEpisode(BaseModel):
    """What the board's replay of one episode computed."""

    model_config = ConfigDict(frozen=True)

    env_id: str = Field(description="The Gymnasium id.")
    task_id: str = Field(description="The task's id.")
    repeat: int = Field(ge=0, description="Which repeat of the task (0-based).")
    score: float = Field(description="The rubric's total.")
    rewards: dict[str, float | None] = Field(description="Every rubric component.")
    answer: str | None = Field(description="The final answer, or None.")
    turns: int = Field(ge=0, description="Agent messages in the episode.")
    tool_calls: int = Field(ge=0, description="Valid tool calls.")
    tool_errors: int = Field(ge=0, description="Valid tool calls whose tool reported an error.")
    parse_errors: dict[str, int] = Field(description="Parse errors by kind.")
    truncated: bool = Field(description="Whether the turn limit ended the episode.")
    rows: tuple[int, int] = Field(description="First and last CSV row of the episode.")


class EnvResult(BaseModel):
    """One env of an accepted submission, as the verification computed it."""

    model_config = ConfigDict(frozen=True)

    env_id: str = Field(description="The Gymnasium id.")
    tasks: int = Field(description="Tasks of the frozen list covered.")
    test_list_size: int = Field(description="Tasks in the env's frozen test list.")
    repeats: int = Field(description="Repeats of every task.")
    episodes: int = Field(description="Episodes replayed (tasks x repeats).")
    score: float = Field(description="Mean replayed score.")
    claimed_score: float | None = Field(default=None, description="The manifest's claim.")
    content_hash: str | None = Field(
        default=None,
        description="actions_hash of this env's rows (None on boards stored before it was kept).",
    )


class Verdict(BaseModel):
    """The outcome of :func:`verify_submission`."""

    model_config = ConfigDict(frozen=True)

    status: Literal["verified", "unverified", "rejected"] = Field(
        description="Replayed and accepted; accepted as a self-reported summary; or refused."
    )
    kind: Literal["actions", "summary"] | None = Field(
        description="What the file holds, when that could be told."
    )
    problems: tuple[Problem, ...] = Field(default=(), description="Why it was rejected.")
    manifest: Manifest | None = Field(default=None, description="The manifest, when valid.")
    envs: tuple[EnvResult, ...] = Field(default=(), description="Per env, when replayed.")
    episodes: tuple[ReplayedEpisode, ...] = Field(default=(), description="The replay.")
    summary: tuple[dict[str, Any], ...] = Field(default=(), description="A summary's rows.")
    content_hash: str | None = Field(default=None, description="The content hash, if read.")
    partial: bool = Field(default=False, description="Covers a prefix of some test list only.")
    replay_seconds: float = Field(default=0.0, description="Wall time of the replay.")

    @property
    def accepted(self) -> bool:
        """Whether the board takes it (verified, or an unverified summary)."""
        return self.status != "rejected"


def _write_submission(path: Path, manifest: Manifest, rows: Iterable[ActionRow]) -> None:
    """Write a submission file in canonical form: manifest, header, rows; cells escaped."""
    with atomic_text(path) as handle:
        writer = csv.writer(handle)
        for field in ("format", "agent", "model", "submitter", "package_version", "date"):
            value = getattr(manifest, field)
            if value is not None:
                writer.writerow([f"#{field}", "", csv_cell(value)])
        writer.writerow(["#max_turns", "", manifest.max_turns])
        for env_id in manifest.env_ids:
            hashes = (manifest.env_version_hashes[env_id], manifest.test_list_hashes[env_id])
            writer.writerow(["#env_version_hash", env_id, csv_cell(hashes[0])])
            writer.writerow(["#test_list_hash", env_id, csv_cell(hashes[1])])
            if env_id in manifest.claimed_scores:
                claim = manifest.claimed_scores[env_id]
                writer.writerow(["#claimed_score", env_id, csv_cell(claim)])
        writer.writerow([*ACTION_COLUMNS, *CLAIM_COLUMNS])
        for row in rows:
            writer.writerow(
                [
                    csv_cell(row.env_id),
                    csv_cell(row.task_id),
                    row.repeat,
                    row.turn,
                    csv_cell(row.action),
                    csv_cell(row.score),
                    csv_cell(row.tool_calls),
                    csv_cell(row.tool_errors),
                ]
            )
