"""The board: accepted submissions stored once, and the leaderboard merged from them and runs.

A board is a folder. Each accepted submission lives in its own subfolder, named by the
first 16 hex digits of its content hash (:func:`~iapo_bench.leaderboard.submission.
actions_hash` for actions, the rows' hash for a summary), so the same actions are stored
once whatever their manifest says::

    BOARD/submissions/<id>/submission.csv   the file in canonical form (cells escaped)
    BOARD/submissions/<id>/verdict.json     a StoredSubmission: status, manifest, per env
    BOARD/submissions/<id>/episodes.jsonl   every replayed episode (verified ones only)

:meth:`Board.submit` validates the file before anything is written: a rejected file, or a
duplicate, leaves the board's bytes exactly as they were (the board folder is not even
created). An accepted one is written into a hidden temporary folder and renamed into place,
so an interruption never leaves half a submission.

:func:`build_leaderboard` merges local run folders (status ``"local"``: played on this
machine, not replayed) and the board's submissions (``"verified"``: replayed here;
``"unverified"``: a self-reported summary) into :class:`Standing` rows, one per source,
agent and env, ranked by score within each env, with:

- a 95% interval of the score: the seeded percentile bootstrap over tasks
  (:func:`~iapo_bench.leaderboard.stats.bootstrap_ci`); for an unverified summary, the
  interval it reports;
- the solved rate (pass@1), pass@k and pass^k with k the repeats of every task (an episode
  is solved when its score reaches 1, the rubric's full outcome credit);
- paired comparisons of each agent with the next one down (the difference on the tasks both
  played, with its bootstrap interval).

Only the frozen test lists of the envs' current versions, under each env's default rubric,
belong on the board: other runs, envs and stale submissions are left out with a note. A run
whose episodes are already on the board (the same actions) is left out too.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard.records import latest_records
from iapo_bench.leaderboard.stats import (
    BOOTSTRAP_RESAMPLES,
    Comparison,
    bootstrap_ci,
    mean_pass_at_k,
    mean_pass_hat_k,
    paired_comparison,
)
from iapo_bench.leaderboard.submission import (
    EnvResult,
    Limits,
    Manifest,
    ReplayedEpisode,
    SummarySubmission,
    Verdict,
    actions_hash,
    escape_cell,
    read_run,
    read_submission,
    replay_submission,
)

__all__ = [
    "LEADERBOARD_COLUMNS",
    "SOLVED",
    "Board",
    "Leaderboard",
    "PairedResult",
    "Receipt",
    "Standing",
    "StoredSubmission",
    "build_leaderboard",
]

SOLVED = 1.0
"""The score at which an episode counts as solved for pass@k and pass^k (the rubric's full
outcome credit; a default rubric's total is 1 for a correct answer)."""

Status = Literal["verified", "local", "unverified"]
"""Where a standing comes from: replayed here, a run folder here, or a self-reported summary."""

LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "env_id",
    "rank",
    "agent",
    "status",
    "score",
    "ci95_low",
    "ci95_high",
    "episodes",
    "tasks",
    "test_list_size",
    "repeats",
    "tool_call_rate",
    "tool_success_rate",
    "mean_turns",
    "solved_rate",
    "pass_at_k",
    "pass_hat_k",
    "max_turns",
    "model",
    "submitter",
    "date",
    "source",
)
"""The columns of ``leaderboard.csv``, in order (the fields of :class:`Standing`)."""


class StoredSubmission(BaseModel):
    """An accepted submission as the board keeps it (``verdict.json``)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The folder name: the content hash's first 16 hex digits.")
    content_hash: str = Field(description="The full content hash.")
    status: Literal["verified", "unverified"] = Field(description="Replayed, or a summary.")
    kind: Literal["actions", "summary"] = Field(description="What the file held.")
    accepted_at: str = Field(description="When the board accepted it, ISO 8601, UTC.")
    file_name: str = Field(description="The submitted file's name (the submitter's choice).")
    manifest: Manifest | None = Field(default=None, description="Its manifest (actions only).")
    envs: tuple[EnvResult, ...] = Field(default=(), description="Per env, as replayed.")
    summary: tuple[dict[str, Any], ...] = Field(default=(), description="A summary's rows.")
    partial: bool = Field(default=False, description="Covers a prefix of some test list only.")
    replay_seconds: float = Field(default=0.0, description="Wall time of its replay.")


class Receipt(BaseModel):
    """What :meth:`Board.submit` did with a file."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    verdict: Verdict | None = Field(description="The verification (None for a duplicate).")
    submission_id: str | None = Field(default=None, description="Its id on the board.")
    duplicate: bool = Field(default=False, description="Already on the board: not stored.")
    folder: Path | None = Field(default=None, description="Where it is stored.")

    @property
    def accepted(self) -> bool:
        """Whether the file is on the board now (stored now, or before as a duplicate)."""
        return self.duplicate or (self.verdict is not None and self.verdict.accepted)


class Board:
    """A folder of accepted submissions.

    >>> Board("/nonexistent/board").submissions()
    []
    """

    SUBMISSIONS = "submissions"
    FILE = "submission.csv"
    VERDICT = "verdict.json"
    EPISODES = "episodes.jsonl"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def _root(self) -> Path:
        return self.directory / self.SUBMISSIONS

    def submissions(self) -> list[StoredSubmission]:
        """Every stored submission, oldest first.

        Raises:
            ValueError: When a stored verdict cannot be read (a damaged board).
        """
        if not self._root.is_dir():
            return []
        stored = []
        for folder in sorted(self._root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue  # an interrupted submission's temporary folder
            path = folder / self.VERDICT
            try:
                stored.append(StoredSubmission.model_validate_json(path.read_text("utf-8")))
            except (OSError, ValueError) as error:
                reason = str(error).splitlines()[0]
                raise ValueError(f"{path} is not a stored submission ({reason})") from None
        return sorted(stored, key=lambda s: (s.accepted_at, s.id))

    def episodes(self, submission_id: str) -> list[ReplayedEpisode]:
        """The replayed episodes of a verified submission."""
        path = self._root / submission_id / self.EPISODES
        text = path.read_text("utf-8") if path.is_file() else ""
        return [ReplayedEpisode.model_validate_json(line) for line in text.splitlines()]

    def submit(
        self, path: str | Path, *, allow_partial: bool = False, limits: Limits | None = None
    ) -> Receipt:
        """Verify a submission file and store it if accepted; see the module's docstring.

        Validation comes first, then the duplicate check (by content hash: a duplicate is not
        replayed again), then the replay. Nothing is written unless the file is accepted.

        Raises:
            EnvMismatchError: When this machine cannot replay the frozen lists' bytes.
        """
        parsed, problems = read_submission(path, allow_partial=allow_partial, limits=limits)
        if parsed is None:
            return Receipt(verdict=Verdict(status="rejected", kind=None, problems=problems))
        submission_id = parsed.content_hash[:16]
        folder = self._root / submission_id
        if folder.exists():
            return Receipt(verdict=None, submission_id=submission_id, duplicate=True, folder=folder)
        if isinstance(parsed, SummarySubmission):
            verdict = Verdict(
                status="unverified",
                kind="summary",
                summary=parsed.rows,
                content_hash=parsed.content_hash,
            )
        else:
            verdict = replay_submission(parsed, limits=limits)
        if not verdict.accepted:
            return Receipt(verdict=verdict)
        stored = StoredSubmission(
            id=submission_id,
            content_hash=parsed.content_hash,
            status="unverified" if verdict.status == "unverified" else "verified",
            kind="summary" if isinstance(parsed, SummarySubmission) else "actions",
            accepted_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            file_name=Path(path).name,
            manifest=verdict.manifest,
            envs=verdict.envs,
            summary=verdict.summary,
            partial=verdict.partial,
            replay_seconds=verdict.replay_seconds,
        )
        # Written in a hidden folder, then renamed: all of it appears at once, or none.
        incoming = self._root / f".incoming-{submission_id}-{os.getpid()}"
        incoming.mkdir(parents=True)
        try:
            parsed.write(incoming / self.FILE)
            if verdict.episodes:
                lines = "".join(e.model_dump_json() + "\n" for e in verdict.episodes)
                (incoming / self.EPISODES).write_text(lines, encoding="utf-8")
            (incoming / self.VERDICT).write_text(stored.model_dump_json(indent=2) + "\n", "utf-8")
            incoming.rename(folder)
        except OSError:
            shutil.rmtree(incoming, ignore_errors=True)
            if folder.exists():  # another process stored the same content meanwhile
                return Receipt(
                    verdict=None, submission_id=submission_id, duplicate=True, folder=folder
                )
            raise
        return Receipt(verdict=verdict, submission_id=submission_id, folder=folder)


class Standing(BaseModel):
    """One row of the leaderboard: an agent from one source on one env."""

    model_config = ConfigDict(frozen=True)

    env_id: str = Field(description="The Gymnasium id.")
    rank: int = Field(description="Rank by score within the env (ties share a rank).")
    agent: str = Field(description="The agent's name (as its source gives it).")
    label: str = Field(description="The name shown: the agent's, plus its source when shared.")
    status: Status = Field(description="verified, local or unverified.")
    score: float = Field(description="Mean score over its episodes.")
    ci95_low: float = Field(description="Lower end of the score's 95% interval (NaN if none).")
    ci95_high: float = Field(description="Upper end of the score's 95% interval (NaN if none).")
    episodes: int = Field(description="Scored episodes.")
    tasks: int | None = Field(description="Tasks played (None when a summary does not say).")
    test_list_size: int = Field(description="Tasks in the env's frozen test list.")
    repeats: int | None = Field(description="Repeats of every task (k of pass@k), if known.")
    tool_call_rate: float = Field(description="Share of episodes with a valid tool call.")
    tool_success_rate: float = Field(description="Share of tool calls without a tool error.")
    mean_turns: float = Field(description="Mean agent messages per episode.")
    solved_rate: float = Field(description="Share of episodes solved (pass@1), NaN if unknown.")
    pass_at_k: float = Field(description="pass@k at k = repeats (NaN if unknown).")
    pass_hat_k: float = Field(description="pass^k at k = repeats (NaN if unknown).")
    max_turns: int | None = Field(description="Turn limit of its episodes, if known.")
    model: str | None = Field(description="The model behind the agent, if given.")
    submitter: str | None = Field(description="Who submitted it, if given.")
    date: str | None = Field(description="When it was played (or accepted), ISO 8601.")
    source: str = Field(description="The run folder, or 'board:<submission id>'.")

    @property
    def coverage(self) -> float:
        """Share of the frozen test list played (NaN when unknown)."""
        return math.nan if self.tasks is None else self.tasks / self.test_list_size


class PairedResult(BaseModel):
    """A paired comparison of two standings of one env (A ranked just above B)."""

    model_config = ConfigDict(frozen=True)

    env_id: str = Field(description="The Gymnasium id.")
    a: str = Field(description="Label of the agent ranked higher.")
    b: str = Field(description="Label of the agent ranked next.")
    comparison: Comparison = Field(description="A minus B on the tasks both played.")


@dataclass
class _Entry:
    """A source's episodes of one agent on one env, before its statistics."""

    env_id: str
    agent: str
    status: Status
    source: str
    model: str | None = None
    submitter: str | None = None
    date: str | None = None
    max_turns: int | None = None
    # (task_id, repeat, score, tool_calls, tool_errors, turns) per episode
    episodes: list[tuple[str, int, float, int, int, int]] = field(default_factory=list)
    summary: dict[str, Any] | None = None  # an unverified summary row instead of episodes

    def per_task(self) -> dict[str, list[float]]:
        tasks: dict[str, list[float]] = {}
        for task_id, _, score, *_ in self.episodes:
            tasks.setdefault(task_id, []).append(score)
        return tasks


def _rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _standing(entry: _Entry, label: str, resamples: int, seed: int) -> dict[str, Any]:
    """A standing's fields (all but its rank) from an entry."""
    size = len(family_for_env_id(entry.env_id).frozen_test_list().task_ids)
    base = {
        "env_id": entry.env_id,
        "agent": entry.agent,
        "label": label,
        "status": entry.status,
        "test_list_size": size,
        "max_turns": entry.max_turns,
        "model": entry.model,
        "submitter": entry.submitter,
        "date": entry.date,
        "source": entry.source,
    }
    if entry.summary is not None:
        row = entry.summary
        return base | {
            "score": float(row["score"]),
            "ci95_low": _number(row.get("ci95_low")),
            "ci95_high": _number(row.get("ci95_high")),
            "episodes": int(row["episodes"]),
            "tasks": None,
            "repeats": None,
            "tool_call_rate": _number(row.get("tool_call_rate")),
            "tool_success_rate": _number(row.get("tool_success_rate")),
            "mean_turns": _number(row.get("mean_turns")),
            "solved_rate": math.nan,
            "pass_at_k": math.nan,
            "pass_hat_k": math.nan,
        }
    per_task = entry.per_task()
    means = [sum(s) / len(s) for s in per_task.values()]
    interval = bootstrap_ci(means, resamples=resamples, seed=seed)
    outcomes = [[score >= SOLVED for score in scores] for scores in per_task.values()]
    k = min(len(o) for o in outcomes)
    episodes = entry.episodes
    calls = sum(e[3] for e in episodes)
    return base | {
        # fsum: exact whatever the episodes' order, so equal results rank as ties
        "score": math.fsum(e[2] for e in episodes) / len(episodes),
        "ci95_low": interval.low,
        "ci95_high": interval.high,
        "episodes": len(episodes),
        "tasks": len(per_task),
        "repeats": k,
        "tool_call_rate": sum(e[3] > 0 for e in episodes) / len(episodes),
        "tool_success_rate": _rate(calls - sum(e[4] for e in episodes), calls),
        "mean_turns": sum(e[5] for e in episodes) / len(episodes),
        "solved_rate": mean_pass_at_k(outcomes, 1),
        "pass_at_k": mean_pass_at_k(outcomes, k),
        "pass_hat_k": mean_pass_hat_k(outcomes, k),
    }


def _current(env_id: str, version_hash: str) -> bool:
    try:
        return family_for_env_id(env_id).version_hash == version_hash
    except KeyError:
        return False


def _run_entries(run_dir: Path, board_hashes: set[str], notes: list[str]) -> list[_Entry]:
    """A run folder's entries: its test-split episodes under the default rubrics."""
    metadata, records = read_run(run_dir)
    if metadata.split != "test":
        notes.append(f"{run_dir}: left out, played on the {metadata.split} split, not the tests")
        return []
    latest = [r for r in latest_records(records) if r.status == "ok"]
    entries: dict[tuple[str, str], _Entry] = {}
    skipped: set[tuple[str, str]] = set()
    for agent in sorted({r.agent for r in latest}):
        mine = [r for r in latest if r.agent == agent]
        key = actions_hash(
            (r.env_id, r.task_id, r.repeat, turn, text)
            for r in mine
            for turn, text in enumerate(r.messages)
        )
        if key in board_hashes:
            notes.append(f"{run_dir}: {agent} left out, its episodes are on the board ({key[:16]})")
            continue
        for record in mine:
            env_id = record.env_id
            why = None
            if env_id in metadata.sources:
                why = "played on local dataset files, not the frozen test list"
            elif not _current(env_id, record.env_version_hash):
                why = "played on another version of the env"
            elif metadata.env_mismatch.get(env_id):
                why = "scored on bytes that differ from the frozen test list"
            elif metadata.rubric.get(env_id) != family_for_env_id(env_id).default_rubric:
                why = f"scored with rubric {metadata.rubric.get(env_id)!r}, not the env's default"
            if why is not None:
                if (agent, env_id) not in skipped:
                    skipped.add((agent, env_id))
                    notes.append(f"{run_dir}: {agent} on {env_id} left out, {why}")
                continue
            entry = entries.setdefault(
                (agent, env_id),
                _Entry(
                    env_id=env_id,
                    agent=agent,
                    status="local",
                    source=str(run_dir),
                    model=metadata.models.get(agent),
                    date=metadata.date,
                    max_turns=metadata.max_turns,
                ),
            )
            entry.episodes.append(
                (
                    record.task_id,
                    record.repeat,
                    float(record.score or 0.0),
                    record.tool_calls,
                    record.tool_errors,
                    record.turns,
                )
            )
    return list(entries.values())


def _board_entries(board: Board, notes: list[str]) -> list[_Entry]:
    """The board's entries: verified submissions' replays and unverified summaries."""
    entries = []
    for stored in board.submissions():
        source = f"board:{stored.id}"
        if stored.kind == "summary":
            for row in stored.summary:
                if not _current(row["env_id"], row["env_version_hash"]):
                    notes.append(
                        f"{source}: {row['agent']} on {row['env_id']} left out, made on another "
                        "version of the env"
                    )
                    continue
                entries.append(
                    _Entry(
                        env_id=row["env_id"],
                        agent=row["agent"],
                        status="unverified",
                        source=source,
                        date=stored.accepted_at,
                        summary=row,
                    )
                )
            continue
        manifest = stored.manifest
        assert manifest is not None
        episodes = board.episodes(stored.id)
        for env_id in manifest.env_ids:
            if not _current(env_id, manifest.env_version_hashes[env_id]):
                notes.append(
                    f"{source}: {manifest.agent} on {env_id} left out, made on another version "
                    "of the env"
                )
                continue
            entries.append(
                _Entry(
                    env_id=env_id,
                    agent=manifest.agent,
                    status="verified",
                    source=source,
                    model=manifest.model,
                    submitter=manifest.submitter,
                    date=manifest.date,
                    max_turns=manifest.max_turns,
                    episodes=[
                        (e.task_id, e.repeat, e.score, e.tool_calls, e.tool_errors, e.turns)
                        for e in episodes
                        if e.env_id == env_id
                    ],
                )
            )
    return entries


def _labels(entries: Sequence[_Entry]) -> list[str]:
    """Agent names, with the source added where one env shows a name twice."""
    counts: dict[tuple[str, str], int] = {}
    for entry in entries:
        counts[entry.env_id, entry.agent] = counts.get((entry.env_id, entry.agent), 0) + 1
    labels = []
    for entry in entries:
        if counts[entry.env_id, entry.agent] == 1:
            labels.append(entry.agent)
        elif entry.source.startswith("board:"):
            labels.append(f"{entry.agent} [{entry.source.removeprefix('board:')[:8]}]")
        else:
            labels.append(f"{entry.agent} [{Path(entry.source).name}]")
    return labels


class Leaderboard(BaseModel):
    """Standings per env, paired comparisons and notes: what ``iapo-bench leaderboard`` shows."""

    model_config = ConfigDict(frozen=True)

    standings: tuple[Standing, ...] = Field(description="Every row, by env then rank.")
    comparisons: tuple[PairedResult, ...] = Field(description="Each agent vs the next one down.")
    notes: tuple[str, ...] = Field(default=(), description="What was left out, and why.")
    resamples: int = Field(description="Bootstrap resamples of every interval.")
    seed: int = Field(description="Bootstrap seed.")

    @property
    def env_ids(self) -> list[str]:
        """The envs with at least one standing, in order."""
        return list(dict.fromkeys(s.env_id for s in self.standings))

    def table(self) -> pd.DataFrame:
        """The standings as a table with :data:`LEADERBOARD_COLUMNS`."""
        rows = [s.model_dump(include=set(LEADERBOARD_COLUMNS)) for s in self.standings]
        return pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))

    def to_csv(self) -> str:
        """``leaderboard.csv``: exact numbers, empty where unknown, text cells escaped."""
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(LEADERBOARD_COLUMNS)
        for standing in self.standings:
            writer.writerow([_csv_cell(getattr(standing, c)) for c in LEADERBOARD_COLUMNS])
        return out.getvalue()

    def to_markdown(self) -> str:
        """``leaderboard.md``: one table per env, then the paired comparisons."""
        lines = ["# iapo-bench leaderboard", ""]
        headers = [
            *("#", "agent", "status", "score", "95% CI", "episodes", "tasks", "tool calls"),
            *("tool ok", "turns", "k", "pass@k", "pass^k", "model", "submitter"),
        ]
        for env_id in self.env_ids:
            lines += [f"## {_md(env_id)}", "", "| " + " | ".join(headers) + " |"]
            lines.append("|" + "---|" * len(headers))
            for s in (s for s in self.standings if s.env_id == env_id):
                cells = [
                    str(s.rank),
                    _md(s.label),
                    s.status,
                    _fixed(s.score),
                    _interval(s.ci95_low, s.ci95_high),
                    str(s.episodes),
                    "" if s.tasks is None else f"{s.tasks}/{s.test_list_size}",
                    _fixed(s.tool_call_rate),
                    _fixed(s.tool_success_rate),
                    _fixed(s.mean_turns, 2),
                    "" if s.repeats is None else str(s.repeats),
                    _fixed(s.pass_at_k),
                    _fixed(s.pass_hat_k),
                    _md(s.model or ""),
                    _md(s.submitter or ""),
                ]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        if self.comparisons:
            lines += [
                "## Paired comparisons",
                "",
                "Each agent against the next one down, on the tasks both played "
                "(bootstrap over tasks).",
                "",
            ]
            lines += ["| env | A | B | tasks | A - B | 95% CI |", "|---|---|---|---|---|---|"]
            for p in self.comparisons:
                d = p.comparison.difference
                cells = [_md(p.env_id), _md(p.a), _md(p.b), str(p.comparison.tasks)]
                cells += [f"{d.estimate:+.3f}", f"[{d.low:+.3f}, {d.high:+.3f}]"]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        if self.notes:
            lines += ["## Left out", ""] + [f"- {_md(n)}" for n in self.notes] + [""]
        return "\n".join(lines)

    def write(self, directory: str | Path) -> list[Path]:
        """Write ``leaderboard.csv``, ``leaderboard.md`` and the HTML page with its plots.

        Returns the paths written.
        """
        from iapo_bench.leaderboard.page import write_page  # matplotlib loads only here

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "leaderboard.csv").write_text(self.to_csv(), encoding="utf-8", newline="")
        (out / "leaderboard.md").write_text(self.to_markdown(), encoding="utf-8")
        return [out / "leaderboard.csv", out / "leaderboard.md", *write_page(self, out)]


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    return escape_cell(str(value))


_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]<>|#"} | {"\n": " ", "\r": " ", "&": "&amp;"}
)


def _md(text: str) -> str:
    """Text made literal in a markdown table cell (no markup, no HTML, no cell break)."""
    return text.translate(_MD_SPECIAL)


def _fixed(value: float, digits: int = 3) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) or math.isnan(high) else f"[{low:.3f}, {high:.3f}]"


def build_leaderboard(
    run_dirs: Iterable[str | Path] = (),
    board: Board | str | Path | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Leaderboard:
    """Merge run folders and a board's submissions into a :class:`Leaderboard`.

    Raises:
        ValueError: When a run folder or the board cannot be read.
    """
    notes: list[str] = []
    board = Board(board) if isinstance(board, (str, Path)) else board
    stored = board.submissions() if board is not None else []
    entries = _board_entries(board, notes) if board is not None else []
    board_hashes = {s.content_hash for s in stored if s.kind == "actions"}
    for run_dir in run_dirs:
        entries += _run_entries(Path(run_dir), board_hashes, notes)
    entries = [e for e in entries if e.summary is not None or e.episodes]
    labels = _labels(entries)
    # (fields of its standing, each task's mean score) per entry
    rows = [
        (
            _standing(e, label, resamples, seed),
            {t: sum(s) / len(s) for t, s in e.per_task().items()},
        )
        for e, label in zip(entries, labels, strict=True)
    ]
    standings: list[Standing] = []
    comparisons: list[PairedResult] = []
    for env_id in dict.fromkeys(e.env_id for e in entries):
        ranked = sorted(
            (r for r in rows if r[0]["env_id"] == env_id),
            key=lambda r: (-r[0]["score"], r[0]["label"]),
        )
        rank = 0
        for position, (fields, _) in enumerate(ranked, 1):
            if position == 1 or fields["score"] != ranked[position - 2][0]["score"]:
                rank = position
            standings.append(Standing(rank=rank, **fields))
        paired = [r for r in ranked if r[0]["status"] != "unverified"]
        for (upper, a), (lower, b) in itertools.pairwise(paired):
            if set(a) & set(b):
                comparisons.append(
                    PairedResult(
                        env_id=env_id,
                        a=upper["label"],
                        b=lower["label"],
                        comparison=paired_comparison(a, b, resamples=resamples, seed=seed),
                    )
                )
    return Leaderboard(
        standings=tuple(standings),
        comparisons=tuple(comparisons),
        notes=tuple(notes),
        resamples=resamples,
        seed=seed,
    )
