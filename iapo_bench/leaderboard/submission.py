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

**Formula injection.** Every text cell this module writes goes through :func:`escape_cell`:
a cell that a spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) gets a leading apostrophe. The escape is reversible, so
replays stay exact: reading applies :func:`unescape_cell` to every cell (an apostrophe
followed by one of those characters or by another apostrophe is dropped). Write ``''x`` for
a cell whose text is ``'x`` followed by such a character.

A message that holds NUL cannot be written to a submission (the format refuses NUL); the
export names such episodes.

>>> escape_cell("=SUM(A1:A9)"), unescape_cell(escape_cell("=SUM(A1:A9)"))
("'=SUM(A1:A9)", '=SUM(A1:A9)')
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.core import Answer
from iapo_bench.envs import env_ids, family_for_env_id
from iapo_bench.envs.family import parse_task_id
from iapo_bench.leaderboard.provenance import (
    EnvMismatchError,
    describe_mismatches,
    env_mismatches,
)
from iapo_bench.leaderboard.records import (
    SUMMARY_COLUMNS,
    EpisodeRecord,
    ResultsWriter,
    RunMetadata,
    latest_records,
)

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

_FORMULA_START = frozenset("=+-@\t\r")
_MANIFEST_COLUMNS = ("field", "env_id", "value")
_RUN_FIELDS = ("format", "agent", "model", "submitter", "package_version", "date", "max_turns")
_ENV_FIELDS = ("env_version_hash", "test_list_hash", "claimed_score")
_WHOLE_NUMBER = re.compile(r"\A[0-9]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SHOWN = 5
"""How many ids a coverage problem quotes before saying how many more there are."""


def escape_cell(text: str) -> str:
    """``text`` made inert for spreadsheets; :func:`unescape_cell` gives it back.

    A leading apostrophe goes before a cell starting with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return, and before one that already starts with an apostrophe followed by
    one of those or by another apostrophe, so that unescaping is exact.

    >>> escape_cell("@cmd"), escape_cell("'=x"), escape_cell("plain"), escape_cell("'ok")
    ("'@cmd", "''=x", 'plain', "'ok")
    """
    if text[:1] in _FORMULA_START or unescape_cell(text) != text:
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """The cell's text before :func:`escape_cell`: one such leading apostrophe dropped.

    >>> unescape_cell("'-1"), unescape_cell("''=x"), unescape_cell("'ok")
    ('-1', "'=x", "'ok")
    """
    if text[:1] == "'" and (text[1:2] in _FORMULA_START or text[1:2] == "'"):
        return text[1:]
    return text


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
        with _atomic_text(Path(path)) as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            for row in self.rows:
                writer.writerow([_cell(row.get(c)) for c in self.columns])


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


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


_OTHER_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _decode(data: bytes, problems: _Problems) -> str | None:
    """The file's text, or None after reporting why it is not UTF-8 text."""
    for bom, name in _OTHER_BOMS:  # UTF-32 first: its little-endian mark starts like UTF-16's
        if data.startswith(bom):
            problems.add(
                f"the file is {name} (it starts with a {name} byte-order mark); save it as UTF-8",
                line=1,
            )
            return None
    nul = data.find(b"\x00")
    if nul >= 0:
        problems.add(
            f"byte {nul + 1} is NUL: a submission is UTF-8 text without NUL bytes (a UTF-16 "
            "file without a byte-order mark reads like this)",
            line=_line_of(data, nul),
        )
        return None
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as error:
        problems.add(
            f"byte {error.start + 1} is not UTF-8 ({error.reason}); save the file as UTF-8",
            line=_line_of(data, error.start),
        )
        return None


def _records(text: str, problems: _Problems, limits: Limits) -> list[list[str]] | None:
    """The file's CSV records (a blank line is an empty record), or None on malformed CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        for cells in reader:
            records.append(cells)
            if len(records) > limits.max_rows + 64:  # a manifest has a few dozen rows at most
                problems.add(
                    f"the file has more than {limits.max_rows} rows, the most this board takes",
                    row=len(records),
                )
                return None
    except csv.Error as error:
        problems.add(f"malformed CSV: {error}", line=reader.line_num)
        return None
    return records


def _text(
    value: str, problems: _Problems, row: int, column: str, limits: Limits, required: bool
) -> str | None:
    value = value.strip()
    if not value:
        if required:
            problems.add("must not be empty", row, column)
        return None
    if len(value) > limits.max_text_length:
        problems.add(
            f"is {len(value)} characters long, over the limit of {limits.max_text_length}",
            row,
            column,
        )
        return None
    if _CONTROL.search(value):
        problems.add("holds a control character (a line break, tab...)", row, column)
        return None
    return value


def _whole(
    value: str, problems: _Problems, row: int, column: str, low: int, high: int
) -> int | None:
    text = value.strip()
    if not _WHOLE_NUMBER.match(text):
        problems.add(f"must be a whole number from {low} to {high}, got {value!r}", row, column)
        return None
    number = int(text)
    if not low <= number <= high:
        problems.add(f"must be from {low} to {high}, got {number}", row, column)
        return None
    return number


def _number(value: str, problems: _Problems, row: int, column: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        problems.add(f"must be a number, got {value!r}", row, column)
        return None
    if not math.isfinite(number):
        problems.add(f"must be a finite number, got {value!r}", row, column)
        return None
    return number


def _iso_date(value: str, problems: _Problems, row: int, column: str) -> str | None:
    text = value.strip()
    try:
        if len(text) == 10:
            dt.date.fromisoformat(text)
        else:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        problems.add(
            f"must be an ISO 8601 date or time (e.g. 2026-12-02 or 2026-12-02T06:43:49+00:00), "
            f"got {value!r}",
            row,
            column,
        )
        return None
    return text


@functools.cache
def _action_limit(env_id: str) -> int:
    """The env's ``max_action_length`` (how many characters of a message it reads)."""
    env = gym.make(env_id)
    try:
        return int(env.unwrapped.action_space.max_length)  # type: ignore[attr-defined]
    finally:
        env.close()


@functools.cache
def _frozen(env_id: str) -> tuple[tuple[str, ...], dict[str, int], str]:
    """The frozen test list of an env: ids, each id's position, and its content hash."""
    frozen = family_for_env_id(env_id).frozen_test_list()
    return frozen.task_ids, {t: i for i, t in enumerate(frozen.task_ids)}, frozen.content_hash


def _known_env(env_id: str) -> bool:
    return env_id in env_ids()


def _read_manifest(
    rows: list[tuple[int, list[str]]], problems: _Problems, limits: Limits
) -> tuple[Manifest | None, dict[str, int]]:
    """The manifest from its ``#field,env_id,value`` rows, and each env's claimed score's row.

    The manifest is None when a problem was found (every one is reported).
    """
    run: dict[str, tuple[str, int]] = {}
    per_env: dict[tuple[str, str], tuple[str, int]] = {}
    for row, cells in rows:
        field = cells[0][1:].strip()
        if len(cells) < 3:
            problems.add(
                "a manifest row has 3 cells: #field, env id (empty for run-wide fields), value",
                row,
                "field",
            )
            continue
        for index, extra in enumerate(cells[3:], 4):
            if extra.strip():
                problems.add(
                    f"a manifest row has 3 cells; cell {index} holds {extra[:40]!r}",
                    row,
                    f"cell {index}",
                )
        env_id, value = cells[1].strip(), cells[2]
        if field in _RUN_FIELDS:
            if env_id:
                problems.add(f"{field} is run-wide: leave the env id cell empty", row, "env_id")
            if field in run:
                problems.add(f"{field} is given twice (first on row {run[field][1]})", row, "field")
                continue
            run[field] = (value, row)
        elif field in _ENV_FIELDS:
            if not env_id:
                problems.add(f"{field} is per env: give the env id", row, "env_id")
                continue
            if not _known_env(env_id):
                problems.add(
                    f"unknown env id {env_id!r}; known: {', '.join(env_ids())}", row, "env_id"
                )
                continue
            if (field, env_id) in per_env:
                first = per_env[field, env_id][1]
                problems.add(
                    f"{field} of {env_id} is given twice (first on row {first})", row, "field"
                )
                continue
            per_env[field, env_id] = (value, row)
        else:
            known = ", ".join((*_RUN_FIELDS, *_ENV_FIELDS))
            problems.add(f"unknown manifest field {field!r}; known: {known}", row, "field")
    last_row = rows[-1][0]
    for name in ("format", "agent", "date", "max_turns"):
        if name not in run:
            problems.add(f"the manifest has no {name} (a '#{name},,VALUE' row)", last_row, "field")
    values: dict[str, Any] = {}
    if "format" in run:
        value, row = run["format"]
        if value.strip() != FORMAT:
            problems.add(f"unsupported format {value!r}; this board reads {FORMAT!r}", row, "value")
    for name in ("agent", "model", "submitter", "package_version"):
        if name in run:
            value, row = run[name]
            values[name] = _text(value, problems, row, "value", limits, required=name == "agent")
    if "date" in run:
        values["date"] = _iso_date(run["date"][0], problems, run["date"][1], "value")
    if "max_turns" in run:
        value, row = run["max_turns"]
        values["max_turns"] = _whole(value, problems, row, "value", 2, limits.max_turns)
    hashes: dict[str, dict[str, str]] = {"env_version_hash": {}, "test_list_hash": {}}
    claims: dict[str, float] = {}
    declared = list(dict.fromkeys(env_id for _, env_id in per_env))
    for env_id in declared:
        family = family_for_env_id(env_id)
        _, _, list_hash = _frozen(env_id)
        expected = {"env_version_hash": family.version_hash, "test_list_hash": list_hash}
        for field in ("env_version_hash", "test_list_hash"):
            if (field, env_id) not in per_env:
                problems.add(
                    f"{env_id} has no {field} (a '#{field},{env_id},HASH' row)", last_row, "field"
                )
                continue
            value, row = per_env[field, env_id]
            value = value.strip()
            if value != expected[field]:
                what = "env version" if field == "env_version_hash" else "frozen test list"
                problems.add(
                    f"stale or unknown {field} for {env_id}: the submission has {value!r}, this "
                    f"board runs {expected[field]!r} (another {what}); play the current one",
                    row,
                    "value",
                )
            hashes[field][env_id] = value
        if ("claimed_score", env_id) in per_env:
            value, row = per_env["claimed_score", env_id]
            claim = _number(value, problems, row, "value")
            if claim is not None:
                claims[env_id] = claim
    if not declared:
        problems.add(
            "the manifest names no env: add '#env_version_hash,ENV_ID,HASH' and "
            "'#test_list_hash,ENV_ID,HASH' rows",
            last_row,
            "field",
        )
    claim_rows = {e: per_env["claimed_score", e][1] for e in claims}
    if problems:
        return None, claim_rows
    manifest = Manifest(
        agent=values["agent"],
        model=values.get("model"),
        submitter=values.get("submitter"),
        package_version=values.get("package_version"),
        date=values["date"],
        max_turns=values["max_turns"],
        env_version_hashes=hashes["env_version_hash"],
        test_list_hashes=hashes["test_list_hash"],
        claimed_scores=claims,
    )
    return manifest, claim_rows


def _header(
    cells: list[str],
    row: int,
    problems: _Problems,
    required: Sequence[str],
    optional: Callable[[str], bool],
) -> list[str] | None:
    """The column names (trailing empty ones, a spreadsheet's padding, dropped).

    None when the rows cannot be read by name (a column missing or given twice); an unknown
    column is reported and its cells are not read.
    """
    names = [c.strip() for c in cells]
    while names and not names[-1]:
        names.pop()
    seen: set[str] = set()
    readable = True
    for name in names:
        if name in seen:
            readable = False
            problems.add(f"column {name!r} appears twice", row, name)
        elif name not in required and not optional(name):
            problems.add(f"unknown column {name!r}", row, name or "(empty)")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        problems.add(
            f"missing columns {', '.join(missing)} (the header is: {', '.join(required)}...)", row
        )
    return names if readable and not missing else None


def _cells(
    cells: list[str], names: list[str], row: int, problems: _Problems
) -> dict[str, str] | None:
    """A data row by column name; None (reported) when its width is wrong."""
    if len(cells) < len(names):
        problems.add(f"has {len(cells)} cells, the header has {len(names)}", row)
        return None
    for index in range(len(names), len(cells)):
        if cells[index].strip():
            problems.add(f"cell {index + 1} is past the header's {len(names)} columns", row)
            return None
    return {name: unescape_cell(cells[i]) for i, name in enumerate(names)}


def _read_actions(
    records: list[tuple[int, list[str]]],
    manifest: Manifest,
    problems: _Problems,
    limits: Limits,
    allow_partial: bool,
) -> Submission | None:
    """Validate the header and action rows against the manifest; None after problems."""
    header_row, header_cells = records[0]
    names = _header(header_cells, header_row, problems, ACTION_COLUMNS, CLAIM_COLUMNS.__contains__)
    if names is None:
        return None
    rows: list[ActionRow] = []
    declared = set(manifest.env_ids)
    last_turn = manifest.max_turns - 1
    unplaced = False  # a row whose episode or turn could not be told
    for row, raw in records[1:]:
        if not any(c.strip() for c in raw):
            continue  # a blank line
        cells = _cells(raw, names, row, problems)
        if cells is None:
            unplaced = True
            continue
        ok = True  # the row's place: env, task, repeat and turn
        env_id = cells["env_id"].strip()
        if env_id not in declared:
            ok = False
            reason = "is not declared in the manifest" if _known_env(env_id) else "is unknown"
            problems.add(
                f"env id {env_id!r} {reason}; the manifest declares: {', '.join(manifest.env_ids)}",
                row,
                "env_id",
            )
        task_id = cells["task_id"].strip()
        try:
            parse_task_id(task_id)
        except ValueError as error:
            ok = False
            problems.add(str(error), row, "task_id")
        else:
            if env_id in declared and task_id not in _frozen(env_id)[1]:
                ok = False
                problems.add(
                    f"task {task_id!r} is not on the frozen test list of {env_id}", row, "task_id"
                )
        repeat = _whole(cells["repeat"], problems, row, "repeat", 0, limits.max_repeats - 1)
        turn = _whole(cells["turn"], problems, row, "turn", 0, last_turn)
        action = cells["action"]
        if env_id in declared:
            limit = _action_limit(env_id) + limits.action_slack
            if len(action) > limit:
                problems.add(
                    f"the action is {len(action)} characters, over the env's limit "
                    f"({_action_limit(env_id)} characters read, {limit} kept)",
                    row,
                    "action",
                )
        claims: dict[str, Any] = {}
        for column in CLAIM_COLUMNS:
            text = cells.get(column, "").strip()
            if not text:
                claims[column] = None
            elif column == "score":
                claims[column] = _number(text, problems, row, column)
            else:
                claims[column] = _whole(text, problems, row, column, 0, manifest.max_turns)
        if (
            claims["tool_calls"] is not None
            and claims["tool_errors"] is not None
            and claims["tool_errors"] > claims["tool_calls"]
        ):
            problems.add(
                f"tool_errors ({claims['tool_errors']}) exceeds "
                f"tool_calls ({claims['tool_calls']})",
                row,
                "tool_errors",
            )
        if ok and repeat is not None and turn is not None:
            rows.append(ActionRow(row, env_id, task_id, repeat, turn, action, **claims))
        else:
            unplaced = True
    if len(rows) > limits.max_rows:
        problems.add(f"the file has {len(rows)} action rows, over the limit of {limits.max_rows}")
    if unplaced:
        # Turns and coverage would only repeat those rows' problems (their episodes look short).
        return None
    episodes = _episodes(rows, manifest, problems)
    partial = _check_coverage(rows, manifest, problems, allow_partial)
    if problems:
        return None
    return Submission(manifest=manifest, episodes=tuple(episodes), partial=partial)


def _episodes(rows: list[ActionRow], manifest: Manifest, problems: _Problems) -> list[Episode]:
    """Rows grouped into episodes: no duplicate or missing turn, claims on last rows only."""
    grouped: dict[tuple[str, str, int], dict[int, ActionRow]] = {}
    for row in rows:
        turns = grouped.setdefault((row.env_id, row.task_id, row.repeat), {})
        if row.turn in turns:
            problems.add(
                f"duplicates row {turns[row.turn].row} (same env, task, repeat and turn)",
                row.row,
                "turn",
            )
            continue
        turns[row.turn] = row
    order = {env_id: i for i, env_id in enumerate(manifest.env_ids)}
    episodes = []
    for (env_id, task_id, repeat), turns in sorted(
        grouped.items(), key=lambda kv: (order[kv[0][0]], _frozen(kv[0][0])[1][kv[0][1]], kv[0][2])
    ):
        missing = [str(t) for t in range(max(turns) + 1) if t not in turns]
        first = min(r.row for r in turns.values())
        if missing:
            problems.add(
                f"episode {task_id} repeat {repeat} has no row for turn {', '.join(missing)} "
                f"(its turns are numbered from 0)",
                first,
                "turn",
            )
            continue
        ordered = tuple(turns[t] for t in range(len(turns)))
        for row in ordered[:-1]:
            if row.claims:
                problems.add(
                    f"claims (score, tool_calls, tool_errors) belong on the episode's last row "
                    f"(turn {len(ordered) - 1}, row {ordered[-1].row})",
                    row.row,
                    next(c for c in CLAIM_COLUMNS if getattr(row, c) is not None),
                )
        episodes.append(Episode(env_id, task_id, repeat, ordered))
    return episodes


def _check_coverage(
    rows: list[ActionRow], manifest: Manifest, problems: _Problems, allow_partial: bool
) -> bool:
    """Report missing tasks and repeats; whether some env covers only a prefix of its list."""
    partial = False
    for env_id in manifest.env_ids:
        ids, position, _ = _frozen(env_id)
        repeats: dict[str, set[int]] = {}
        for row in rows:
            if row.env_id == env_id:
                repeats.setdefault(row.task_id, set()).add(row.repeat)
        if not repeats:
            problems.add(
                f"{env_id} is declared in the manifest but has no action rows", column="env_id"
            )
            continue
        covered = max(position[t] for t in repeats) + 1 if allow_partial else len(ids)
        missing = [t for t in ids[:covered] if t not in repeats]
        if missing:
            advice = (
                "a partial submission covers the first N tasks of the list"
                if allow_partial
                else "submit every task, or the first N with --allow-partial"
            )
            problems.add(
                f"{env_id}: {len(missing)} of the {covered} tasks of the frozen test list "
                f"{'it should cover ' if allow_partial else ''}are missing: "
                f"{_some(missing)} ({advice})",
                column="task_id",
            )
        partial = partial or covered < len(ids)
        count = max(max(r) for r in repeats.values()) + 1
        gaps = [
            f"{t} repeat {r}"
            for t in ids
            if t in repeats
            for r in range(count)
            if r not in repeats[t]
        ]
        if gaps:
            problems.add(
                f"{env_id}: every task needs the same {count} repeats (0 to {count - 1}); "
                f"missing: {_some(gaps)}",
                column="repeat",
            )
    return partial


def _summary_value(
    column: str, value: str, problems: _Problems, row: int, limits: Limits
) -> tuple[bool, Any]:
    """One summary cell checked and converted: ``(ok, value)``."""
    text = value.strip()
    if column == "agent":
        name = _text(value, problems, row, column, limits, required=True)
        return name is not None, name
    if column == "env_id":
        if not _known_env(text):
            problems.add(f"unknown env id {text!r}; known: {', '.join(env_ids())}", row, column)
            return False, None
        return True, text
    if column == "env_version_hash":
        return True, text  # checked with the row's env id
    if column in ("episodes", "infrastructure_errors"):
        number = _whole(value, problems, row, column, 1 if column == "episodes" else 0, 10**9)
        return number is not None, number
    if not text:
        if column == "score":
            problems.add(
                "must not be empty (a row with no scored episode has no place on the board)",
                row,
                column,
            )
            return False, None
        return True, None  # not measured (pandas writes NaN as an empty cell)
    number = _number(value, problems, row, column)
    if number is None:
        return False, None
    rate = column.endswith("_rate") or column.startswith("parse_error_rate_")
    if rate and not 0 <= number <= 1:
        problems.add(f"is a rate: must be from 0 to 1, got {number}", row, column)
        return False, None
    if (
        column in ("std_error", "mean_turns", "latency_mean_s", "latency_p95_s", "tokens", "cost")
        and number < 0
    ):
        problems.add(f"must not be negative, got {number}", row, column)
        return False, None
    return True, number


def _read_summary(
    records: list[tuple[int, list[str]]], problems: _Problems, limits: Limits
) -> SummarySubmission | None:
    """Validate a summary-only file (``summary.csv``'s columns, ``reward_*`` beside them)."""
    header_row, header_cells = records[0]
    names = _header(
        header_cells, header_row, problems, SUMMARY_COLUMNS, lambda c: c.startswith("reward_")
    )
    if names is None:
        return None
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for row, raw in records[1:]:
        if not any(c.strip() for c in raw):
            continue
        cells = _cells(raw, names, row, problems)
        if cells is None:
            continue
        values: dict[str, Any] = {}
        ok = True
        for column in names:
            good, values[column] = _summary_value(column, cells[column], problems, row, limits)
            ok = ok and good
        if not ok:
            continue
        family = family_for_env_id(values["env_id"])
        if values["env_version_hash"] != family.version_hash:
            problems.add(
                f"stale or unknown env_version_hash for {values['env_id']}: the file has "
                f"{values['env_version_hash']!r}, this board runs {family.version_hash!r}",
                row,
                "env_version_hash",
            )
            continue
        low, high, score = values["ci95_low"], values["ci95_high"], values["score"]
        if low is not None and high is not None and not low <= score <= high:
            problems.add(f"the score {score} is outside its interval [{low}, {high}]", row, "score")
            continue
        key = (values["agent"], values["env_id"])
        if key in seen:
            problems.add(
                f"agent {key[0]!r} on {key[1]} is given twice (first on row {seen[key]})",
                row,
                "agent",
            )
            continue
        seen[key] = row
        rows.append(values)
    if not rows and not problems:
        problems.add("the file has a header but no rows")
    if len(rows) > limits.max_rows:
        problems.add(f"the file has {len(rows)} rows, over the limit of {limits.max_rows}")
    if problems:
        return None
    return SummarySubmission(columns=tuple(names), rows=tuple(rows))


def read_submission(
    path: str | Path, *, allow_partial: bool = False, limits: Limits | None = None
) -> tuple[Submission | SummarySubmission | None, tuple[Problem, ...]]:
    """Read and validate a submission file, without replaying it.

    Returns the parsed submission and no problems, or ``None`` and every problem found
    (as many as :attr:`Limits.max_problems`, then a count).
    """
    limits = limits or Limits()
    problems = _Problems(limits.max_problems)
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            problems.add(f"the file is {size} bytes, over the limit of {limits.max_file_bytes}")
            return None, problems.result()
        data = path.read_bytes()
    except OSError as error:
        problems.add(f"cannot read {path}: {error.strerror or type(error).__name__}")
        return None, problems.result()
    text = _decode(data, problems)
    if text is None:
        return None, problems.result()
    raw = _records(text, problems, limits)
    if raw is None:
        return None, problems.result()
    records = [(row, cells) for row, cells in enumerate(raw, 1) if any(c.strip() for c in cells)]
    if not records:
        problems.add("the file is empty")
        return None, problems.result()
    first_row, first = records[0]
    parsed: Submission | SummarySubmission | None
    if first[0].startswith("#"):
        count = next((i for i, (_, c) in enumerate(records) if not c[0].startswith("#")), None)
        count = len(records) if count is None else count
        manifest_rows = [(row, [unescape_cell(c) for c in cells]) for row, cells in records[:count]]
        records = records[count:]
        manifest, claim_rows = _read_manifest(manifest_rows, problems, limits)
        if not records:
            problems.add(
                "the manifest is not followed by a header and action rows", manifest_rows[-1][0]
            )
            return None, problems.result()
        if manifest is None:
            return None, problems.result()
        parsed = _read_actions(records, manifest, problems, limits, allow_partial)
        if parsed is not None:
            parsed = parsed.model_copy(update={"claim_rows": claim_rows})
    elif set(SUMMARY_COLUMNS) <= {c.strip() for c in first}:
        parsed = _read_summary(records, problems, limits)
    else:
        problems.add(
            f"not a submission: one starts with its manifest ('#format,,{FORMAT}'), a "
            "summary-only one with the header of summary.csv (agent,env_id,...)",
            first_row,
        )
        return None, problems.result()
    return (parsed, ()) if parsed is not None else (None, problems.result())


def _replay_one(env: Any, episode: Episode) -> tuple[ReplayedEpisode | None, list[Problem]]:
    """Play one episode's actions; the replayed episode, or why it does not replay."""
    env.reset(options={"task_id": episode.task_id})
    rows = episode.rows
    info: dict[str, Any] = {}
    reward = 0.0
    for index, row in enumerate(rows):
        _, reward, terminated, truncated, info = env.step(row.action)
        if terminated or truncated:
            if index < len(rows) - 1:
                how = "with its answer" if terminated else "at the turn limit"
                return None, [
                    Problem(
                        message=f"episode {episode.task_id} repeat {episode.repeat} ended "
                        f"{how} at turn {index} (row {row.row}); its later rows "
                        f"{rows[index + 1].row}-{rows[-1].row} were never played",
                        row=rows[index + 1].row,
                        column="turn",
                    )
                ]
            break
    else:
        return None, [
            Problem(
                message=f"episode {episode.task_id} repeat {episode.repeat} does not end at its "
                f"last row: after turn {len(rows) - 1} the env waits for another message (an "
                "episode ends on an answer or at max_turns)",
                row=rows[-1].row,
                column="turn",
            )
        ]
    trajectory = info["trajectory"]
    calls = trajectory.tool_calls
    parse_errors: dict[str, int] = {}
    for error in trajectory.parse_errors:
        parse_errors[error.error.value] = parse_errors.get(error.error.value, 0) + 1
    answer = trajectory.answer
    replayed = ReplayedEpisode(
        env_id=episode.env_id,
        task_id=episode.task_id,
        repeat=episode.repeat,
        score=float(reward),
        rewards=dict(info["rewards"]),
        answer=answer.text if isinstance(answer, Answer) else None,
        turns=len(trajectory.turns),
        tool_calls=len(calls),
        tool_errors=sum(1 for t in calls if t.result is not None and not t.result.ok),
        parse_errors=parse_errors,
        truncated=trajectory.truncated,
        rows=(rows[0].row, rows[-1].row),
    )
    last = rows[-1]
    problems = []
    name = f"episode {episode.task_id} repeat {episode.repeat}"
    if last.score is not None and abs(last.score - replayed.score) > EPISODE_CLAIM_TOLERANCE:
        problems.append(
            Problem(
                message=f"{name}: claimed score {last.score!r}, "
                f"the replay scores {replayed.score!r}",
                row=last.row,
                column="score",
            )
        )
    for column in ("tool_calls", "tool_errors"):
        claimed, actual = getattr(last, column), getattr(replayed, column)
        if claimed is not None and claimed != actual:
            problems.append(
                Problem(
                    message=f"{name}: claimed {column} {claimed}, the replay has {actual}",
                    row=last.row,
                    column=column,
                )
            )
    return replayed, problems


def replay_submission(
    submission: Submission,
    *,
    limits: Limits | None = None,
    on_episode: Callable[[ReplayedEpisode], None] | None = None,
) -> Verdict:
    """Replay every episode of a validated submission and check every claim.

    Each env is made once (``gym.make(env_id, max_turns=manifest.max_turns)``, its default
    rubric) and reset on each task id in turn. The verdict is ``"verified"`` with every
    replayed episode and per-env results, or ``"rejected"`` with the episodes that do not
    end at their last row or whose claims differ from the replay.

    Raises:
        EnvMismatchError: When this board's envs would not render the bytes of their frozen
            test lists (other Pillow, FreeType, numpy, OpenCV or fonts): the board cannot
            verify anything until its libraries match.
    """
    limits = limits or Limits()
    manifest = submission.manifest
    families = [family_for_env_id(e) for e in manifest.env_ids]
    mismatches = env_mismatches(families)
    if mismatches:
        raise EnvMismatchError(
            "this board cannot replay: its envs would not render the frozen test lists' "
            f"bytes: {describe_mismatches(mismatches)}"
        )
    problems = _Problems(limits.max_problems)
    replayed: list[ReplayedEpisode] = []
    began = time.perf_counter()
    envs = {e: gym.make(e, max_turns=manifest.max_turns).unwrapped for e in manifest.env_ids}
    differing: dict[str, list[str]] = {}
    try:
        for episode in submission.episodes:
            result, found = _replay_one(envs[episode.env_id], episode)
            for problem in found:
                problems.add(problem.message, problem.row, problem.column)
            if found:
                differing.setdefault(episode.env_id, []).append(f"row {episode.rows[-1].row}")
            if result is not None:
                replayed.append(result)
                if on_episode is not None:
                    on_episode(result)
    finally:
        for env in envs.values():
            env.close()
    seconds = time.perf_counter() - began
    results = []
    for env_id in manifest.env_ids:
        episodes = [e for e in replayed if e.env_id == env_id]
        tasks = {e.task_id for e in episodes}
        score = sum(e.score for e in episodes) / len(episodes) if episodes else math.nan
        claim = manifest.claimed_scores.get(env_id)
        if claim is not None and not abs(claim - score) <= MEAN_CLAIM_TOLERANCE:
            which = (
                f"the episodes that differ end on {_some(differing[env_id])}"
                if differing.get(env_id)
                else "no episode claims a score, so the file cannot say which episodes differ"
            )
            problems.add(
                f"{env_id}: claimed score {claim!r}, the replay gives {score!r} over "
                f"{len(episodes)} episodes; {which}",
                submission.claim_rows.get(env_id),
                "value",
            )
        results.append(
            EnvResult(
                env_id=env_id,
                tasks=len(tasks),
                test_list_size=len(_frozen(env_id)[0]),
                repeats=max((e.repeat for e in episodes), default=-1) + 1,
                episodes=len(episodes),
                score=score,
                claimed_score=claim,
            )
        )
    if problems:
        return Verdict(
            status="rejected",
            kind="actions",
            problems=problems.result(),
            manifest=manifest,
            content_hash=submission.content_hash,
            partial=submission.partial,
            replay_seconds=seconds,
        )
    return Verdict(
        status="verified",
        kind="actions",
        manifest=manifest,
        envs=tuple(results),
        episodes=tuple(replayed),
        content_hash=submission.content_hash,
        partial=submission.partial,
        replay_seconds=seconds,
    )


def verify_submission(
    path: str | Path, *, allow_partial: bool = False, limits: Limits | None = None
) -> Verdict:
    """Validate a submission file, then replay it: the board's whole check.

    A file of actions is ``"verified"`` when it is valid, every episode replays to its last
    row and every claim matches; a summary-only file is ``"unverified"`` when valid; anything
    else is ``"rejected"`` with every problem found. ``allow_partial`` accepts files that
    cover only the first N tasks of an env's frozen test list (a run with ``--limit``).

    Raises:
        EnvMismatchError: When this machine cannot replay the frozen lists' bytes.
    """
    parsed, problems = read_submission(path, allow_partial=allow_partial, limits=limits)
    if parsed is None:
        return Verdict(status="rejected", kind=None, problems=problems)
    if isinstance(parsed, SummarySubmission):
        return Verdict(
            status="unverified",
            kind="summary",
            summary=parsed.rows,
            content_hash=parsed.content_hash,
        )
    return replay_submission(parsed, limits=limits)


def _cell(value: Any) -> str:
    """A value as a CSV cell: numbers exactly (``repr``), None and NaN empty, text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    return escape_cell(str(value))


class _atomic_text:  # a context manager used like open(), hence the lower-case name
    """Write a text file whole or not at all: a temporary file beside it, then a rename."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.{os.getpid()}.partial")

    def __enter__(self) -> io.TextIOWrapper:
        self.handle = self.partial.open("w", encoding="utf-8", newline="")
        return self.handle

    def __exit__(self, kind: object, *rest: object) -> None:
        self.handle.close()
        if kind is None:
            self.partial.replace(self.path)
        else:
            self.partial.unlink(missing_ok=True)


def _write_submission(path: Path, manifest: Manifest, rows: Iterable[ActionRow]) -> None:
    with _atomic_text(path) as handle:
        writer = csv.writer(handle)
        for field in ("format", "agent", "model", "submitter", "package_version", "date"):
            value = getattr(manifest, field)
            if value is not None:
                writer.writerow([f"#{field}", "", _cell(value)])
        writer.writerow(["#max_turns", "", manifest.max_turns])
        for env_id in manifest.env_ids:
            writer.writerow(
                ["#env_version_hash", env_id, _cell(manifest.env_version_hashes[env_id])]
            )
            writer.writerow(["#test_list_hash", env_id, _cell(manifest.test_list_hashes[env_id])])
            if env_id in manifest.claimed_scores:
                writer.writerow(["#claimed_score", env_id, _cell(manifest.claimed_scores[env_id])])
        writer.writerow([*ACTION_COLUMNS, *CLAIM_COLUMNS])
        for row in rows:
            writer.writerow(
                [
                    _cell(row.env_id),
                    _cell(row.task_id),
                    row.repeat,
                    row.turn,
                    _cell(row.action),
                    _cell(row.score),
                    _cell(row.tool_calls),
                    _cell(row.tool_errors),
                ]
            )


def read_run(run_dir: str | Path) -> tuple[RunMetadata, list[EpisodeRecord]]:
    """A run folder's metadata and episode records, read without writing anything.

    A last line cut off by an interruption is skipped (a resume would drop it too).

    Raises:
        ValueError: When the folder holds no run, or a record or the metadata is unreadable.
    """
    folder = Path(run_dir)
    meta_path = folder / ResultsWriter.METADATA
    if not meta_path.is_file():
        raise ValueError(f"{folder} is not a run folder (it has no {ResultsWriter.METADATA})")
    try:
        metadata = RunMetadata.model_validate_json(meta_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(
            f"{meta_path} is not a run's metadata ({str(error).splitlines()[0]})"
        ) from None
    records: list[EpisodeRecord] = []
    path = folder / ResultsWriter.EPISODES
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    for number, line in enumerate(lines, 1):
        try:
            records.append(EpisodeRecord.model_validate_json(line))
        except ValueError:
            if number != len(lines):
                raise ValueError(f"{path}:{number} is not an episode record") from None
    return metadata, records


def _episode_rows(records: Iterable[EpisodeRecord], claims: bool) -> Iterator[ActionRow]:
    for record in records:
        last = len(record.messages) - 1
        for turn, text in enumerate(record.messages):
            claim = claims and turn == last
            yield ActionRow(
                row=0,
                env_id=record.env_id,
                task_id=record.task_id,
                repeat=record.repeat,
                turn=turn,
                action=text,
                score=record.score if claim else None,
                tool_calls=record.tool_calls if claim else None,
                tool_errors=record.tool_errors if claim else None,
            )


def export_submission(
    run_dir: str | Path,
    path: str | Path,
    *,
    agent: str | None = None,
    submitter: str | None = None,
) -> Manifest:
    """Write the submission file of one agent of a run folder; returns its manifest.

    Every scored episode's messages (as the env kept them) become action rows, with the
    episode's score, tool calls and tool errors claimed on its last row and each env's mean
    score claimed in the manifest, for the envs the run scored with the env's default rubric
    (the board's); under another rubric no score is claimed. ``agent`` may be left out when
    the run holds one agent.

    Raises:
        ValueError: When the folder holds no run; ``agent`` is missing or unknown; the run is
            not on the test split, played local dataset files, or was scored on bytes that
            differ from the frozen lists;
            an episode failed outside the model (resume the run first); or a message holds
            NUL, which a submission cannot carry.
    """
    metadata, records = read_run(run_dir)
    agents = sorted({r.agent for r in records})
    if agent is None:
        if len(agents) != 1:
            listed = ", ".join(agents) if agents else "none"
            raise ValueError(f"{run_dir} holds {len(agents)} agents ({listed}); name one to export")
        agent = agents[0]
    if agent not in agents:
        raise ValueError(
            f"{run_dir} holds no episode of agent {agent!r}; "
            f"it holds: {', '.join(agents) or 'none'}"
        )
    if metadata.split != "test":
        raise ValueError(
            f"{run_dir} was played on the {metadata.split} split; the leaderboard scores the "
            "frozen test lists (iapo-bench run --split test)"
        )
    mine = latest_records(r for r in records if r.agent == agent)
    failed = [r for r in mine if r.status != "ok"]
    if failed:
        raise ValueError(
            f"{len(failed)} episodes of {agent} failed outside the model (e.g. {failed[0].task_id}:"
            f" {failed[0].error}); resume the run (iapo-bench run ... -o {run_dir}) first"
        )
    for record in mine:
        if any("\x00" in m for m in record.messages):
            raise ValueError(
                f"episode {record.task_id} repeat {record.repeat} of {agent} holds a NUL "
                "character, which a submission (UTF-8 text) cannot carry"
            )
    env_list = [e for e in metadata.env_version_hashes if any(r.env_id == e for r in mine)]
    sourced = [e for e in env_list if e in metadata.sources]
    if sourced:
        raise ValueError(
            f"{run_dir} played {', '.join(sourced)} on local dataset files (--source), not on "
            "the frozen test lists"
        )
    mismatched = [e for e in env_list if metadata.env_mismatch.get(e)]
    if mismatched:
        raise ValueError(
            f"{run_dir} scored {', '.join(mismatched)} on bytes that differ from the frozen test "
            "lists (--allow-env-mismatch); such episodes cannot be verified"
        )
    default = {e: family_for_env_id(e).default_rubric for e in env_list}
    claims = {e: metadata.rubric.get(e) == default[e] for e in env_list}
    ordered = sorted(
        mine,
        key=lambda r: (env_list.index(r.env_id), _frozen(r.env_id)[1].get(r.task_id, -1), r.repeat),
    )
    scores: dict[str, list[float]] = {}
    for record in ordered:
        scores.setdefault(record.env_id, []).append(float(record.score or 0.0))
    manifest = Manifest(
        agent=agent,
        model=metadata.models.get(agent),
        submitter=submitter or None,
        package_version=metadata.package_version,
        date=metadata.date,
        max_turns=metadata.max_turns,
        env_version_hashes={e: metadata.env_version_hashes[e] for e in env_list},
        test_list_hashes={e: metadata.test_list_hashes[e] for e in env_list},
        claimed_scores={e: sum(s) / len(s) for e, s in scores.items() if claims[e]},
    )
    by_env = {e: [r for r in ordered if r.env_id == e] for e in env_list}
    rows = (row for e in env_list for row in _episode_rows(by_env[e], claims[e]))
    _write_submission(Path(path), manifest, rows)
    return manifest
