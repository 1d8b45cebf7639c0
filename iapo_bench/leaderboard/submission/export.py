"""Writing one agent of a run folder as a submission file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from iapo_bench.envs import family_for_env_id
from iapo_bench.leaderboard.records import EpisodeRecord, latest_records, read_run
from iapo_bench.leaderboard.submission.model import ActionRow, Manifest, _write_submission
from iapo_bench.leaderboard.submission.read import _frozen

__all__ = ["export_submission"]


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
