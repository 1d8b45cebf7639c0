"""Result records and the one results writer.

A run's folder holds three files:

- ``episodes.jsonl``: one :class:`EpisodeRecord` a line, appended and flushed per episode, so
  an interrupted run resumes where it stopped;
- ``summary.csv``: one row per (agent, env) with the columns of :data:`SUMMARY_COLUMNS`;
- ``metadata.json``: provenance (:class:`RunMetadata`).

Summary columns:

``agent``, ``env_id``, ``env_version_hash``
    what was evaluated, and the hash of the env version it was scored on;
``episodes``, ``score``, ``std_error``, ``ci95_low``, ``ci95_high``
    mean rubric total, its standard error (sample std / sqrt(n)) and a normal 95% interval;
``tool_call_rate``
    fraction of episodes with at least one valid tool call;
``tool_success_rate``
    fraction of valid tool calls that succeeded (empty when there were none);
``parse_error_rate_<kind>``
    fraction of all agent messages that were parse errors of that kind;
``mean_turns``
    agent messages per episode;
``latency_mean_s``, ``latency_p95_s``
    wall time per episode (env steps plus the episode's share of batched policy calls);
``tokens``, ``cost``
    total generated tokens and cost, where the policy reports them (empty otherwise);
``reward_<component>`` (after the fixed columns)
    mean of each rubric component over the episodes where it voted, one column per
    component named in the run (``reward_exact_match``, ``reward_llm_judge.fallback``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.core import ParseErrorKind

__all__ = ["SUMMARY_COLUMNS", "EpisodeRecord", "ResultsWriter", "RunMetadata", "summarize"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "agent",
    "env_id",
    "env_version_hash",
    "episodes",
    "score",
    "std_error",
    "ci95_low",
    "ci95_high",
    "tool_call_rate",
    "tool_success_rate",
    *(f"parse_error_rate_{kind.value}" for kind in ParseErrorKind),
    "mean_turns",
    "latency_mean_s",
    "latency_p95_s",
    "tokens",
    "cost",
)
"""The fixed columns of ``summary.csv``, in order."""


class EpisodeRecord(BaseModel):
    """One evaluated episode, as a line of ``episodes.jsonl``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: str = Field(description="The policy's name.")
    env_id: str = Field(description="The Gymnasium id.")
    env_version_hash: str = Field(description="Hash of the env version the task came from.")
    task_id: str = Field(description="The task's id.")
    repeat: int = Field(default=0, ge=0, description="Which repeat of the task (0-based).")
    score: float = Field(description="The rubric's total.")
    rewards: dict[str, float | None] = Field(description="Every rubric component.")
    answer: str | None = Field(description="The final answer, or None when truncated.")
    reference: str = Field(description="The reference answer (recorded after scoring).")
    turns: int = Field(ge=0, description="Agent messages in the episode.")
    tool_calls: int = Field(ge=0, description="Valid tool calls.")
    tool_errors: int = Field(ge=0, description="Valid tool calls whose tool reported an error.")
    parse_errors: dict[str, int] = Field(description="Parse errors by kind.")
    truncated: bool = Field(description="Whether the turn limit ended the episode.")
    latency_s: float = Field(ge=0, description="Wall time of the episode, seconds.")
    tokens: int | None = Field(default=None, description="Generated tokens, if reported.")
    cost: float | None = Field(default=None, description="Cost in USD, if reported.")
    messages: list[str] = Field(description="The agent's messages, verbatim.")

    @property
    def key(self) -> tuple[str, str, str, int]:
        """What identifies the episode within a run (for resuming)."""
        return (self.agent, self.env_id, self.task_id, self.repeat)


class RunMetadata(BaseModel):
    """Provenance of a run, written to ``metadata.json``."""

    model_config = ConfigDict(extra="forbid")

    package_version: str = Field(description="iapo-bench's version.")
    git_version: str | None = Field(description="`git describe` of the source tree, if any.")
    libraries: dict[str, str] = Field(description="Versions of the libraries that shape results.")
    env_version_hashes: dict[str, str] = Field(description="Env version hash per env id.")
    test_list_hashes: dict[str, str] = Field(description="Frozen test list content hash per id.")
    split: str = Field(description="The split evaluated.")
    seed: int = Field(description="Seed of the agents (and first task seed off the test split).")
    agents: list[str] = Field(description="Agents evaluated.")
    models: dict[str, str | None] = Field(description="Model per agent (None for scripted).")
    chat_template_hashes: dict[str, str | None] = Field(description="Chat template per agent.")
    rubric: dict[str, str] = Field(description="Rubric spec per env id.")
    max_turns: int = Field(description="Turn limit of every episode.")
    command: list[str] = Field(description="The command line.")
    date: str = Field(description="Start time, ISO 8601, UTC.")


def _rate(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def summarize(records: Iterable[EpisodeRecord]) -> pd.DataFrame:
    """The summary table, one row per (agent, env), columns :data:`SUMMARY_COLUMNS`."""
    frame = pd.DataFrame([r.model_dump() for r in records])
    if frame.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = []
    for (agent, env_id), group in frame.groupby(["agent", "env_id"], sort=False):
        n = len(group)
        score = float(group["score"].mean())
        stderr = float(group["score"].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        messages = int(group["turns"].sum())
        calls = int(group["tool_calls"].sum())
        row: dict[str, Any] = {
            "agent": agent,
            "env_id": env_id,
            "env_version_hash": ",".join(sorted(set(group["env_version_hash"]))),
            "episodes": n,
            "score": score,
            "std_error": stderr,
            "ci95_low": score - 1.96 * stderr,
            "ci95_high": score + 1.96 * stderr,
            "tool_call_rate": float((group["tool_calls"] > 0).mean()),
            "tool_success_rate": _rate(calls - int(group["tool_errors"].sum()), calls),
            "mean_turns": float(group["turns"].mean()),
            "latency_mean_s": float(group["latency_s"].mean()),
            "latency_p95_s": float(group["latency_s"].quantile(0.95)),
            "tokens": group["tokens"].sum(min_count=1),
            "cost": group["cost"].sum(min_count=1),
        }
        for kind in ParseErrorKind:
            count = sum(errors.get(kind.value, 0) for errors in group["parse_errors"])
            row[f"parse_error_rate_{kind.value}"] = _rate(count, messages)
        for name, values in pd.DataFrame(list(group["rewards"])).items():
            row[f"reward_{name}"] = values.astype(float).mean()  # NaN where none voted
        rows.append(row)
    components = sorted({key for row in rows for key in row} - set(SUMMARY_COLUMNS))
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *components])


class ResultsWriter:
    """Writes a run's folder; reopening a folder resumes it.

    Episodes already in ``episodes.jsonl`` are reported by :meth:`done`; a line cut off by an
    interruption is dropped when the folder is reopened.
    """

    EPISODES = "episodes.jsonl"
    SUMMARY = "summary.csv"
    METADATA = "metadata.json"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.records: list[EpisodeRecord] = self._read_existing()
        self.summary: pd.DataFrame | None = None
        """The table :meth:`write_summary` last wrote."""
        self._file = (self.directory / self.EPISODES).open("a", encoding="utf-8")

    def _read_existing(self) -> list[EpisodeRecord]:
        path = self.directory / self.EPISODES
        if not path.exists():
            return []
        records, lines = [], path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            try:
                records.append(EpisodeRecord.model_validate_json(line))
            except ValueError:
                if number != len(lines):
                    raise ValueError(f"{path}:{number} is not an episode record") from None
                # The last line was cut off mid-write: drop it and rewrite the file.
                path.write_text("".join(r.model_dump_json() + "\n" for r in records))
        return records

    def done(self) -> set[tuple[str, str, str, int]]:
        """Keys of the episodes already recorded."""
        return {r.key for r in self.records}

    def read_metadata(self) -> RunMetadata | None:
        """The metadata of an earlier run in this folder, if any."""
        path = self.directory / self.METADATA
        return RunMetadata.model_validate_json(path.read_text()) if path.exists() else None

    def write_metadata(self, metadata: RunMetadata) -> None:
        """Write ``metadata.json``."""
        (self.directory / self.METADATA).write_text(metadata.model_dump_json(indent=2) + "\n")

    def append(self, record: EpisodeRecord) -> None:
        """Record one episode, flushed at once."""
        self._file.write(record.model_dump_json() + "\n")
        self._file.flush()
        self.records.append(record)

    def write_summary(self) -> pd.DataFrame:
        """Write ``summary.csv`` from every recorded episode, keep it as ``summary``, return it."""
        self.summary = summarize(self.records)
        self.summary.to_csv(self.directory / self.SUMMARY, index=False)
        return self.summary

    def close(self) -> None:
        """Close the episodes file."""
        self._file.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
