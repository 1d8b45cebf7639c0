"""The board: accepted submissions, stored once each.

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

The leaderboard merged from a board and run folders is in
:mod:`~iapo_bench.leaderboard.standings` (its names are importable from here too, as
before that module was split off).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.leaderboard.submission import (
    EnvResult,
    Limits,
    Manifest,
    ReplayedEpisode,
    Submission,
    SummarySubmission,
    Verdict,
    read_submission,
    replay_submission,
)

if TYPE_CHECKING:  # served lazily by __getattr__ below: standings imports this module
    from iapo_bench.leaderboard.standings import LEADERBOARD_COLUMNS as LEADERBOARD_COLUMNS
    from iapo_bench.leaderboard.standings import SOLVED as SOLVED
    from iapo_bench.leaderboard.standings import Leaderboard as Leaderboard
    from iapo_bench.leaderboard.standings import PairedResult as PairedResult
    from iapo_bench.leaderboard.standings import Standing as Standing
    from iapo_bench.leaderboard.standings import build_leaderboard as build_leaderboard

__all__ = ["Board", "Receipt", "StoredSubmission"]

_MOVED = frozenset(
    {"LEADERBOARD_COLUMNS", "SOLVED", "Leaderboard", "PairedResult", "Standing"}
    | {"build_leaderboard"}
)
"""Names that lived here before :mod:`~iapo_bench.leaderboard.standings` was split off."""


def __getattr__(name: str) -> Any:
    """The standings' names, for imports written before the split (PEP 562)."""
    if name in _MOVED:
        from iapo_bench.leaderboard import standings

        return getattr(standings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

    def env_hashes(self, stored: StoredSubmission) -> dict[str, str]:
        """The content hash of each env's actions in a stored submission (none for a summary).

        Kept in the verdict (:attr:`EnvResult.content_hash`); for a submission stored before
        it was kept, computed from its stored file.
        """
        if stored.kind != "actions":
            return {}
        kept = {e.env_id: e.content_hash for e in stored.envs if e.content_hash is not None}
        if len(kept) == len(stored.envs):
            return kept
        parsed, _ = read_submission(self._root / stored.id / self.FILE, allow_partial=True)
        return parsed.env_hashes if isinstance(parsed, Submission) else {}

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
