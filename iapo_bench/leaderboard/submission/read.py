"""Reading a submission file and validating it, without replaying anything.

:func:`read_submission` checks, in order, the encoding, the sizes, the CSV, the manifest
(fields, types, env ids and hashes), the header and every action row (place, types, action
length, claims), then each env's coverage of its frozen test list; or, for a summary-only
file, its schema, types, ranges and env hashes. It reports every problem with its row and
column (see :mod:`iapo_bench.leaderboard.submission` for the format).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from iapo_bench.envs import env_ids, family_for_env_id
from iapo_bench.envs.family import parse_task_id
from iapo_bench.leaderboard.records import SUMMARY_COLUMNS
from iapo_bench.leaderboard.submission.cells import unescape_cell
from iapo_bench.leaderboard.submission.model import (
    ACTION_COLUMNS,
    CLAIM_COLUMNS,
    FORMAT,
    ActionRow,
    Episode,
    Limits,
    Manifest,
    Problem,
    Submission,
    SummarySubmission,
    _Problems,
    _some,
)

__all__ = ["read_submission"]

_RUN_FIELDS = ("format", "agent", "model", "submitter", "package_version", "date", "max_turns")


_ENV_FIELDS = ("env_version_hash", "test_list_hash", "claimed_score")


_WHOLE_NUMBER = re.compile(r"\A[0-9]+\Z")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
