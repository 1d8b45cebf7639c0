"""Replaying a validated submission through the envs, and the board's whole check.

:func:`replay_submission` resets each env on every episode's task id, steps its actions
and compares every claim with what the env's own rubric computes; :func:`verify_submission`
reads, validates and replays a file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from iapo_bench.core import Answer
from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard.provenance import (
    EnvMismatchError,
    describe_mismatches,
    env_mismatches,
)
from iapo_bench.leaderboard.submission.model import (
    EPISODE_CLAIM_TOLERANCE,
    MEAN_CLAIM_TOLERANCE,
    EnvResult,
    Episode,
    Limits,
    Problem,
    ReplayedEpisode,
    Submission,
    SummarySubmission,
    Verdict,
    _Problems,
    _some,
)
from iapo_bench.leaderboard.submission.read import _frozen, read_submission

__all__ = ["replay_submission", "verify_submission"]


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
                content_hash=submission.env_hashes.get(env_id),
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
