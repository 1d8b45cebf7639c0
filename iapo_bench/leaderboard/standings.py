"""The leaderboard: standings merged from a board's submissions and local run folders.

:func:`build_leaderboard` merges local run folders (status ``"local"``: played on this
machine, not replayed) and the board's submissions (``"verified"``: replayed here;
``"unverified"``: a self-reported summary) into :class:`Standing` rows, one per source,
agent and env, ranked by score within each env, with:

- the score: the mean over tasks of each task's mean score over its repeats, so that every
  task of the frozen list weighs the same however many times it was played (a local run
  resumed part-way can hold more repeats of some tasks); with equal repeats, as in every
  verified submission, it is the mean over episodes. An unverified summary's score is the
  one it reports;
- a 95% interval of that score: the seeded percentile bootstrap over tasks
  (:func:`~iapo_bench.leaderboard.stats.bootstrap_ci` of the same per-task means); for an
  unverified summary, the interval it reports;
- the solved rate (pass@1, the mean over tasks of each task's share of solved episodes),
  pass@k and pass^k with k the repeats of every task (an episode is solved when its score
  reaches 1, the rubric's full outcome credit);
- paired comparisons of each agent with the next one down (the difference of the per-task
  means on the tasks both played, with its bootstrap interval).

The tool-call rate, tool-success rate and mean turns describe the episodes themselves: they
are over episodes (and tool calls), not per task.

Only the frozen test lists of the envs' current versions, under each env's default rubric,
belong on the board: other runs, envs and stale submissions are left out with a note. A
run's episodes of one agent on one env that are already on the board (the same actions as
a verified submission's on that env) are left out too, so the same episodes are never
listed twice, even when the submission holds only some of the run's envs.

>>> format_number(0.12345), format_number(float("nan")), format_interval(0.1, 0.25, signed=True)
('0.123', '', '[+0.100, +0.250]')
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard.board import Board
from iapo_bench.leaderboard.records import latest_records, read_run
from iapo_bench.leaderboard.stats import (
    BOOTSTRAP_RESAMPLES,
    Comparison,
    bootstrap_ci,
    mean_pass_at_k,
    mean_pass_hat_k,
    paired_comparison,
    rate,
)
from iapo_bench.leaderboard.submission import actions_hash
from iapo_bench.leaderboard.submission.cells import csv_cell

__all__ = [
    "LEADERBOARD_COLUMNS",
    "SOLVED",
    "Leaderboard",
    "PairedResult",
    "Standing",
    "build_leaderboard",
    "format_interval",
    "format_number",
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


class Standing(BaseModel):
    """One row of the leaderboard: an agent from one source on one env.

    The score, its interval, the solved rate, pass@k and pass^k are all over *tasks*: each
    task's episodes are averaged first, so every task weighs the same (see the module's
    docstring). The tool rates and mean turns are over episodes.
    """

    model_config = ConfigDict(frozen=True)

    env_id: str = Field(description="The Gymnasium id.")
    rank: int = Field(description="Rank by score within the env (ties share a rank).")
    agent: str = Field(description="The agent's name (as its source gives it).")
    label: str = Field(description="The name shown: the agent's, plus its source when shared.")
    status: Status = Field(description="verified, local or unverified.")
    score: float = Field(
        description="Mean over tasks of each task's mean score (its repeats averaged first); "
        "an unverified summary's own score."
    )
    ci95_low: float = Field(description="Lower end of the score's 95% interval (NaN if none).")
    ci95_high: float = Field(description="Upper end of the score's 95% interval (NaN if none).")
    episodes: int = Field(description="Scored episodes.")
    tasks: int | None = Field(description="Tasks played (None when a summary does not say).")
    test_list_size: int = Field(description="Tasks in the env's frozen test list.")
    repeats: int | None = Field(description="Repeats of every task (k of pass@k), if known.")
    tool_call_rate: float = Field(description="Share of episodes with a valid tool call.")
    tool_success_rate: float = Field(description="Share of tool calls without a tool error.")
    mean_turns: float = Field(description="Mean agent messages per episode.")
    solved_rate: float = Field(
        description="Mean over tasks of each task's share of solved episodes (pass@1), NaN if "
        "unknown."
    )
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
    content_hash: str | None = None  # actions_hash of the episodes' actions, when known

    def per_task(self) -> dict[str, list[float]]:
        """Each task's scores, in the order played."""
        tasks: dict[str, list[float]] = {}
        for task_id, _, score, *_ in self.episodes:
            tasks.setdefault(task_id, []).append(score)
        return tasks

    def task_means(self) -> dict[str, float]:
        """Each task's mean score over its repeats: the unit of the score and its interval.

        fsum: exact whatever the episodes' order, so equal results rank as ties.
        """
        return {t: math.fsum(s) / len(s) for t, s in self.per_task().items()}


def _as_float(value: Any) -> float:
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
            "ci95_low": _as_float(row.get("ci95_low")),
            "ci95_high": _as_float(row.get("ci95_high")),
            "episodes": int(row["episodes"]),
            "tasks": None,
            "repeats": None,
            "tool_call_rate": _as_float(row.get("tool_call_rate")),
            "tool_success_rate": _as_float(row.get("tool_success_rate")),
            "mean_turns": _as_float(row.get("mean_turns")),
            "solved_rate": math.nan,
            "pass_at_k": math.nan,
            "pass_hat_k": math.nan,
        }
    per_task = entry.per_task()
    means = list(entry.task_means().values())
    interval = bootstrap_ci(means, resamples=resamples, seed=seed)
    outcomes = [[score >= SOLVED for score in scores] for scores in per_task.values()]
    k = min(len(o) for o in outcomes)
    episodes = entry.episodes
    calls = sum(e[3] for e in episodes)
    return base | {
        # The interval's own unit (a task), with fsum: exact whatever the tasks' order, so
        # equal results rank as ties.
        "score": math.fsum(means) / len(means),
        "ci95_low": interval.low,
        "ci95_high": interval.high,
        "episodes": len(episodes),
        "tasks": len(per_task),
        "repeats": k,
        "tool_call_rate": sum(e[3] > 0 for e in episodes) / len(episodes),
        "tool_success_rate": rate(calls - sum(e[4] for e in episodes), calls),
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


def _run_entries(run_dir: Path, on_board: dict[str, str], notes: list[str]) -> list[_Entry]:
    """A run folder's entries: its test-split episodes under the default rubrics.

    An agent's episodes on one env whose actions hash to one of ``on_board``'s keys (the
    content hashes of the verified submissions shown, per env) are left out with a note.
    """
    metadata, records = read_run(run_dir)
    if metadata.split != "test":
        notes.append(f"{run_dir}: left out, played on the {metadata.split} split, not the tests")
        return []
    latest = [r for r in latest_records(records) if r.status == "ok"]
    entries: dict[tuple[str, str], _Entry] = {}
    actions: dict[tuple[str, str], list[tuple[str, str, int, int, str]]] = {}
    skipped: set[tuple[str, str]] = set()
    for agent in sorted({r.agent for r in latest}):
        mine = [r for r in latest if r.agent == agent]
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
            actions.setdefault((agent, env_id), []).extend(
                (env_id, record.task_id, record.repeat, turn, text)
                for turn, text in enumerate(record.messages)
            )
    kept = []
    matched: dict[str, dict[str, list[str]]] = {}  # agent -> source on the board -> env ids
    for key, entry in entries.items():
        # Per (agent, env), as a submission's replay keeps them: a submission of some of
        # the run's envs still matches those envs.
        entry.content_hash = actions_hash(actions[key])
        shown = on_board.get(entry.content_hash)
        if shown is None:
            kept.append(entry)
        else:
            matched.setdefault(entry.agent, {}).setdefault(shown, []).append(entry.env_id)
    for agent, sources in matched.items():
        for source, envs in sources.items():
            whole = len(sources) == 1 and not any(e.agent == agent for e in kept)
            which = agent if whole else f"{agent} on {', '.join(envs)}"
            notes.append(f"{run_dir}: {which} left out, its episodes are on the board ({source})")
    return kept


def _board_entries(board: Board, notes: list[str]) -> list[_Entry]:
    """The board's entries: verified submissions' replays and unverified summaries.

    The same actions on one env are shown once: an env of a later verified submission whose
    actions are an earlier one's (the board stores whole files once, not envs) is left out.
    """
    entries = []
    shown: dict[str, str] = {}  # content hash of one env's actions -> the source showing them
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
        hashes = board.env_hashes(stored)
        for env_id in manifest.env_ids:
            if not _current(env_id, manifest.env_version_hashes[env_id]):
                notes.append(
                    f"{source}: {manifest.agent} on {env_id} left out, made on another version "
                    "of the env"
                )
                continue
            content = hashes.get(env_id)
            if content in shown:
                notes.append(
                    f"{source}: {manifest.agent} on {env_id} left out, the same episodes are "
                    f"on the board as {shown[content]}"
                )
                continue
            if content is not None:
                shown[content] = source
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
                    content_hash=content,
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
            writer.writerow([csv_cell(getattr(standing, c)) for c in LEADERBOARD_COLUMNS])
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
                    format_number(s.score),
                    format_interval(s.ci95_low, s.ci95_high),
                    str(s.episodes),
                    "" if s.tasks is None else f"{s.tasks}/{s.test_list_size}",
                    format_number(s.tool_call_rate),
                    format_number(s.tool_success_rate),
                    format_number(s.mean_turns, 2),
                    "" if s.repeats is None else str(s.repeats),
                    format_number(s.pass_at_k),
                    format_number(s.pass_hat_k),
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
                cells += [
                    format_number(d.estimate, signed=True),
                    format_interval(d.low, d.high, signed=True),
                ]
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


_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]<>|#"} | {"\n": " ", "\r": " ", "&": "&amp;"}
)


def _md(text: str) -> str:
    """Text made literal in a markdown table cell (no markup, no HTML, no cell break)."""
    return text.translate(_MD_SPECIAL)


def format_number(value: float | None, digits: int = 3, *, signed: bool = False) -> str:
    """A number as the leaderboard's tables show it: fixed decimals, empty when unknown.

    Unknown is None or NaN; ``signed`` writes the sign of a difference (``+0.250``).
    """
    if value is None or math.isnan(value):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def format_interval(low: float, high: float, *, signed: bool = False) -> str:
    """An interval as ``[low, high]`` with three decimals, empty when an end is unknown."""
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{format_number(low, signed=signed)}, {format_number(high, signed=signed)}]"


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
    entries = _board_entries(board, notes) if board is not None else []
    on_board = {e.content_hash: e.source for e in entries if e.content_hash is not None}
    for run_dir in run_dirs:
        entries += _run_entries(Path(run_dir), on_board, notes)
    entries = [e for e in entries if e.summary is not None or e.episodes]
    labels = _labels(entries)
    # (fields of its standing, each task's mean score) per entry
    rows = [
        (_standing(e, label, resamples, seed), e.task_means())
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
