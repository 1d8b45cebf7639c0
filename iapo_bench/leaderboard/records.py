"""Result records and the one results writer.

A run's folder holds three files:

- ``episodes.jsonl``: one :class:`EpisodeRecord` a line, appended and flushed per episode, so
  an interrupted run resumes where it stopped;
- ``summary.csv``: one row per (agent, env) with the columns of :data:`SUMMARY_COLUMNS`;
- ``metadata.json``: provenance (:class:`RunMetadata`), accumulated over every resume.

An episode that failed outside the model (its endpoint down, its judge unreachable) is
recorded with ``status="infrastructure_error"``: it is left out of the score, counted in its
own column, and played again when the run is resumed (the later record supersedes it). Every
text field of a record is made valid Unicode (:func:`~iapo_bench.core.clean_text`), so any
text an agent writes can be written.

Summary columns:

``agent``, ``env_id``, ``env_version_hash``
    what was evaluated, and the hash of the env version it was scored on;
``episodes``, ``infrastructure_errors``
    the scored episodes, and those that failed outside the model (not scored);
``score``, ``std_error``, ``ci95_low``, ``ci95_high``
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
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from iapo_bench.core import ParseErrorKind, clean_text
from iapo_bench.leaderboard.stats import rate

__all__ = [
    "SUMMARY_COLUMNS",
    "EpisodeRecord",
    "ResultsWriter",
    "RunCommand",
    "RunMetadata",
    "Status",
    "latest_records",
    "read_run",
    "summarize",
]

Text = Annotated[str, AfterValidator(clean_text)]
"""A string made valid Unicode on the way in, so that any record can be written as UTF-8."""

Status = Literal["ok", "infrastructure_error"]
"""How an episode ended: played and scored, or failed outside the model (not scored)."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    "agent",
    "env_id",
    "env_version_hash",
    "episodes",
    "infrastructure_errors",
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

    agent: Text = Field(description="The policy's name.")
    env_id: str = Field(description="The Gymnasium id.")
    env_version_hash: str = Field(description="Hash of the env version the task came from.")
    task_id: str = Field(description="The task's id.")
    repeat: int = Field(default=0, ge=0, description="Which repeat of the task (0-based).")
    status: Status = Field(default="ok", description="Scored, or an infrastructure error.")
    error: Text | None = Field(
        default=None, description="What failed outside the model, on an infrastructure error."
    )
    score: float | None = Field(
        description="The rubric's total; None on an infrastructure error (never scored)."
    )
    rewards: dict[Text, float | None] = Field(description="Every rubric component.")
    answer: Text | None = Field(description="The final answer, or None when there was none.")
    reference: Text = Field(description="The reference answer (recorded after scoring).")
    turns: int = Field(ge=0, description="Agent messages in the episode.")
    tool_calls: int = Field(ge=0, description="Valid tool calls.")
    tool_errors: int = Field(ge=0, description="Valid tool calls whose tool reported an error.")
    parse_errors: dict[str, int] = Field(description="Parse errors by kind.")
    truncated: bool = Field(description="Whether the turn limit ended the episode.")
    latency_s: float = Field(ge=0, description="Wall time of the episode, seconds.")
    tokens: int | None = Field(default=None, description="Generated tokens, if reported.")
    cost: float | None = Field(default=None, description="Cost in USD, if reported.")
    messages: list[Text] = Field(
        description="The agent's messages as the env kept them (bounded by its action limit)."
    )

    @property
    def key(self) -> tuple[str, str, str, int]:
        """What identifies the episode within a run (for resuming)."""
        return (self.agent, self.env_id, self.task_id, self.repeat)


_SAME = ("split", "seed", "max_turns", "batch_size", "libraries", "ocr_engine")
"""Run-wide settings a resume must share."""
_SAME_PER_KEY = (
    "env_version_hashes",
    "test_list_hashes",
    "sources",
    "rubric",
    "rubric_provenance",
    "models",
    "chat_template_hashes",
    "agent_settings",
)
"""Per-env and per-agent settings a resume must share for every env or agent both name."""


class RunCommand(BaseModel):
    """One invocation that wrote into a run's folder."""

    model_config = ConfigDict(extra="forbid")

    argv: list[str] = Field(description="The command line.")
    date: str = Field(description="When it started, ISO 8601, UTC.")


class RunMetadata(BaseModel):
    """Provenance of a run, written to ``metadata.json``.

    A folder accumulates: every env, agent and command that ever wrote into it is listed, and
    a resume that would mix settings (another rubric, env version, judge, OCR engine, model,
    sampling, split, seed, turn limit or library version) is refused (:meth:`merged`).
    """

    model_config = ConfigDict(extra="forbid")

    package_version: str = Field(description="iapo-bench's version.")
    git_version: str | None = Field(description="`git describe` of the source checkout, if any.")
    libraries: dict[str, str] = Field(description="Versions of the libraries that shape results.")
    env_version_hashes: dict[str, str] = Field(description="Env version hash per env id.")
    test_list_hashes: dict[str, str] = Field(description="Frozen test list content hash per id.")
    sources: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Per env id scored on local files instead of its generator: the format, "
        "split, number of files and tasks, and the files' content hash (SHA-256).",
    )
    env_mismatch: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="Envs run on bytes that differ from their frozen test list (allowed "
        "explicitly): field -> [frozen, running]. Empty when every list is scored as frozen.",
    )
    split: str = Field(description="The split evaluated.")
    seed: int = Field(description="Seed of the agents (and first task seed off the test split).")
    max_turns: int = Field(description="Turn limit of every episode.")
    batch_size: int = Field(description="Episodes in flight per agent (padding can shift models).")
    agents: list[str] = Field(description="Agents evaluated.")
    models: dict[str, str | None] = Field(description="Model per agent (None for scripted).")
    chat_template_hashes: dict[str, str | None] = Field(description="Chat template per agent.")
    agent_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Sampling settings per agent (temperature, ...)."
    )
    rubric: dict[str, str] = Field(description="Rubric spec per env id.")
    rubric_provenance: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per env id, what each model- or service-backed reward reports about "
        "itself (the LLM judge: model, endpoint, template hash, settings).",
    )
    ocr_engine: dict[str, str] = Field(
        description="The OCR engine the ocr tool and the heuristic read with (version, models)."
    )
    commands: list[RunCommand] = Field(description="Every command that wrote into the folder.")
    date: str = Field(description="When the run first started, ISO 8601, UTC.")

    def merged(self, previous: RunMetadata) -> RunMetadata:
        """This run's metadata added to a folder's ``previous`` one; ``ValueError`` on a mix.

        Settings of the whole run must be equal; per-env and per-agent settings must be equal
        for every env or agent both name, and are otherwise united.
        """
        for name in _SAME:
            before, now = getattr(previous, name), getattr(self, name)
            if before != now:
                raise ValueError(f"it holds a run with {name}={before}, this one has {now}")
        merged: dict[str, Any] = {}
        for name in _SAME_PER_KEY:
            before, now = getattr(previous, name), getattr(self, name)
            for key in sorted(set(before) & set(now)):
                if before[key] != now[key]:
                    raise ValueError(
                        f"it holds a run with {name}[{key!r}]={before[key]}, "
                        f"this one has {now[key]}"
                    )
            merged[name] = before | now
        return self.model_copy(
            update={
                **merged,
                "env_mismatch": previous.env_mismatch | self.env_mismatch,
                "agents": sorted(set(previous.agents) | set(self.agents)),
                "commands": [*previous.commands, *self.commands],
                "date": previous.date,
            }
        )


def latest_records(records: Iterable[EpisodeRecord]) -> list[EpisodeRecord]:
    """One record per episode key: the last scored one, else the last infrastructure error.

    A resumed run replays the episodes that failed outside the model and appends their new
    records; this is the view every summary takes.
    """
    chosen: dict[tuple[str, str, str, int], EpisodeRecord] = {}
    for record in records:
        held = chosen.get(record.key)
        if held is None or record.status == "ok" or held.status != "ok":
            chosen[record.key] = record
    return list(chosen.values())


def summarize(records: Iterable[EpisodeRecord]) -> pd.DataFrame:
    """The summary table, one row per (agent, env), columns :data:`SUMMARY_COLUMNS`.

    Scores and rates are over the scored episodes; infrastructure errors are only counted.
    """
    latest = latest_records(records)
    frame = pd.DataFrame([r.model_dump() for r in latest])
    if frame.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    rows = []
    for (agent, env_id), everything in frame.groupby(["agent", "env_id"], sort=False):
        group = everything[everything["status"] == "ok"]
        n = len(group)
        score = float(group["score"].mean()) if n else math.nan
        stderr = float(group["score"].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        messages = int(group["turns"].sum())
        calls = int(group["tool_calls"].sum())
        row: dict[str, Any] = {
            "agent": agent,
            "env_id": env_id,
            "env_version_hash": ",".join(sorted(set(everything["env_version_hash"]))),
            "episodes": n,
            "infrastructure_errors": int(len(everything) - n),
            "score": score,
            "std_error": stderr,
            "ci95_low": score - 1.96 * stderr,
            "ci95_high": score + 1.96 * stderr,
            "tool_call_rate": float((group["tool_calls"] > 0).mean()) if n else math.nan,
            "tool_success_rate": rate(calls - int(group["tool_errors"].sum()), calls),
            "mean_turns": float(group["turns"].mean()) if n else math.nan,
            "latency_mean_s": float(group["latency_s"].mean()) if n else math.nan,
            "latency_p95_s": float(group["latency_s"].quantile(0.95)) if n else math.nan,
            "tokens": group["tokens"].sum(min_count=1),
            "cost": group["cost"].sum(min_count=1),
        }
        for kind in ParseErrorKind:
            count = sum(errors.get(kind.value, 0) for errors in group["parse_errors"])
            row[f"parse_error_rate_{kind.value}"] = rate(count, messages)
        for name, values in pd.DataFrame(list(group["rewards"])).items():
            row[f"reward_{name}"] = values.astype(float).mean()  # NaN where none voted
        rows.append(row)
    components = sorted({key for row in rows for key in row} - set(SUMMARY_COLUMNS))
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *components])


def _read_episodes(path: Path) -> tuple[list[EpisodeRecord], bool]:
    """The records of an ``episodes.jsonl`` (none when absent), and whether it was cut off.

    A last line cut off by an interruption is left out (a resume plays its episode again).

    Raises:
        ValueError: When a line other than the last is not a record.
    """
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(EpisodeRecord.model_validate_json(line))
        except ValueError:
            if number != len(lines):
                raise ValueError(f"{path}:{number} is not an episode record") from None
            return records, True
    return records, False


def _read_metadata(path: Path) -> RunMetadata | None:
    """A ``metadata.json`` (None when it is absent).

    Raises:
        ValueError: When it is not the metadata of a run of this version.
    """
    if not path.exists():
        return None
    try:
        return RunMetadata.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(
            f"{path} is not the metadata of a run of this version of iapo-bench "
            f"({str(error).splitlines()[0]})"
        ) from None


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
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.records: list[EpisodeRecord] = self._read_existing()
            self._file = (self.directory / self.EPISODES).open("a", encoding="utf-8")
        except (FileExistsError, NotADirectoryError):
            raise ValueError(
                f"cannot write results to {self.directory}: it (or a folder above it) is a file"
            ) from None
        except OSError as error:  # read-only, no permission, a pseudo file system...
            reason = error.strerror or type(error).__name__
            raise ValueError(f"cannot write results to {self.directory}: {reason}") from None
        self.summary: pd.DataFrame | None = None
        """The table :meth:`write_summary` last wrote."""

    def _read_existing(self) -> list[EpisodeRecord]:
        path = self.directory / self.EPISODES
        records, cut = _read_episodes(path)
        if cut:  # the last line was cut off mid-write: drop it from the file too
            path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
        return records

    def done(self) -> set[tuple[str, str, str, int]]:
        """Keys of the episodes already scored (infrastructure errors are played again)."""
        return {r.key for r in self.records if r.status == "ok"}

    def read_metadata(self) -> RunMetadata | None:
        """The metadata of an earlier run in this folder, if any."""
        try:
            return _read_metadata(self.directory / self.METADATA)
        except ValueError as error:
            raise ValueError(f"{error}; choose a new output folder") from None

    def write_metadata(self, metadata: RunMetadata) -> None:
        """Write ``metadata.json``."""
        path = self.directory / self.METADATA
        # Written whole then renamed, so an interruption never leaves half a file.
        partial = path.with_suffix(".json.partial")
        partial.write_text(metadata.model_dump_json(indent=2) + "\n", encoding="utf-8")
        partial.replace(path)

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


def read_run(run_dir: str | Path) -> tuple[RunMetadata, list[EpisodeRecord]]:
    """A run folder's metadata and episode records, read without writing anything.

    The same reading as :class:`ResultsWriter`'s when it resumes: a last line cut off by an
    interruption is left out (a resume would drop it too).

    Raises:
        ValueError: When the folder holds no run, or a record or the metadata is unreadable.
    """
    folder = Path(run_dir)
    metadata = _read_metadata(folder / ResultsWriter.METADATA)
    if metadata is None:
        raise ValueError(f"{folder} is not a run folder (it has no {ResultsWriter.METADATA})")
    records, _ = _read_episodes(folder / ResultsWriter.EPISODES)
    return metadata, records
