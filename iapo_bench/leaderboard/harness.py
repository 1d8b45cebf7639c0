"""The evaluation harness: many envs x policies -> episode records, a summary and metadata.

- :func:`task_ids_for`: the tasks a run scores: the frozen test list, or seeds of another split.
- :func:`run_episodes`: play a batch of tasks with one policy, batching its calls.
- :func:`evaluate`: the whole run into a results folder, resuming what is already there.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import gymnasium as gym

from iapo_bench.baselines.base import Policy
from iapo_bench.core import Answer, Split, Trajectory
from iapo_bench.envs import family_for_env_id
from iapo_bench.envs.family import SPLIT_SEEDS, load_task
from iapo_bench.leaderboard.records import EpisodeRecord, ResultsWriter, RunMetadata
from iapo_bench.rewards.rubric import Rubric

__all__ = ["evaluate", "record_episode", "run_episodes", "task_ids_for"]


def task_ids_for(
    env_id: str, split: Split = "test", limit: int | None = None, seed: int = 0
) -> list[str]:
    """Task ids to score: the frozen test list (first ``limit``), or ``limit`` seeds of a split.

    Off the test split, tasks are seeds ``seed, seed + 1, ...`` cycling the difficulty levels.
    """
    family = family_for_env_id(env_id)
    if split == "test":
        ids = list(family.frozen_test_list().task_ids)
        return ids if limit is None else ids[:limit]
    count = 100 if limit is None else limit
    start = SPLIT_SEEDS[split].start + seed
    levels = family.difficulties
    return [family.task_id(split, levels[i % len(levels)], start + i) for i in range(count)]


def record_episode(
    agent: str,
    env_id: str,
    env_version_hash: str,
    trajectory: Trajectory,
    score: float,
    rewards: Mapping[str, float | None],
    latency_s: float,
    repeat: int = 0,
    tokens: int | None = None,
) -> EpisodeRecord:
    """The record of one finished episode."""
    parse_errors: dict[str, int] = {}
    for error in trajectory.parse_errors:
        parse_errors[error.error.value] = parse_errors.get(error.error.value, 0) + 1
    calls = trajectory.tool_calls
    answer = trajectory.answer
    return EpisodeRecord(
        agent=agent,
        env_id=env_id,
        env_version_hash=env_version_hash,
        task_id=trajectory.task_id,
        repeat=repeat,
        score=score,
        rewards=dict(rewards),
        answer=answer.text if isinstance(answer, Answer) else None,
        reference=load_task(trajectory.task_id).answer,
        turns=len(trajectory.turns),
        tool_calls=len(calls),
        tool_errors=sum(1 for t in calls if t.result is not None and not t.result.ok),
        parse_errors=parse_errors,
        truncated=trajectory.truncated,
        latency_s=latency_s,
        tokens=tokens,
        messages=[t.text for t in trajectory.turns],
    )


def _generated_tokens(usage: Any) -> int | None:
    """Completion tokens of one entry of a policy's ``last_usage`` (a model or a dict)."""
    value = (
        usage.get("completion_tokens")
        if isinstance(usage, Mapping)
        else getattr(usage, "completion_tokens", None)
    )
    return None if value is None else int(value)


def run_episodes(
    env_id: str,
    policy: Policy,
    task_ids: Sequence[str],
    *,
    batch_size: int = 16,
    max_turns: int = 4,
    repeat: int = 0,
    rubric: str | None = None,
) -> Iterator[EpisodeRecord]:
    """Play each task once with ``policy``, ``batch_size`` episodes in flight; yields records.

    Each in-flight episode has its own env; the policy sees all live observations at once.
    ``rubric`` (a spec string) replaces the env's default rubric. A policy that reports
    ``last_usage`` (one entry per observation of its last ``act``, with
    ``completion_tokens``) has its generated tokens summed into each episode's record.
    """
    family = family_for_env_id(env_id)
    envs = [
        gym.make(env_id, max_turns=max_turns, rubric=rubric)
        for _ in range(min(batch_size, len(task_ids)))
    ]
    try:
        for start in range(0, len(task_ids), len(envs) or 1):
            batch = task_ids[start : start + len(envs)]
            live: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
            elapsed = [0.0] * len(batch)
            tokens: list[int | None] = [None] * len(batch)
            for i, task in enumerate(batch):
                began = time.perf_counter()
                live[i] = envs[i].reset(options={"task_id": task})
                elapsed[i] += time.perf_counter() - began
            while live:
                order = list(live)
                began = time.perf_counter()
                actions = policy.act([live[i][0] for i in order], [live[i][1] for i in order])
                share = (time.perf_counter() - began) / len(order)
                if len(actions) != len(order):
                    raise RuntimeError(
                        f"policy {policy.name!r} returned {len(actions)} actions for "
                        f"{len(order)} observations"
                    )
                usage = getattr(policy, "last_usage", None)
                if usage is not None and len(usage) == len(order):
                    for i, entry in zip(order, usage, strict=True):
                        count = _generated_tokens(entry)
                        if count is not None:
                            tokens[i] = (tokens[i] or 0) + count
                for i, action in zip(order, actions, strict=True):
                    began = time.perf_counter()
                    obs, reward, terminated, truncated, info = envs[i].step(action)
                    elapsed[i] += share + time.perf_counter() - began
                    if terminated or truncated:
                        del live[i]
                        yield record_episode(
                            policy.name,
                            env_id,
                            family.version_hash,
                            info["trajectory"],
                            reward,
                            info["rewards"],
                            elapsed[i],
                            repeat,
                            tokens[i],
                        )
                    else:
                        live[i] = (obs, info)
    finally:
        for env in envs:
            env.close()


def _git_version() -> str | None:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _library_versions() -> dict[str, str]:
    names = (
        "gymnasium",
        "numpy",
        "pillow",
        "pydantic",
        "pandas",
        "matplotlib",
        "rapidocr",
        "onnxruntime",
        "torch",
        "transformers",
    )
    versions = {"python": sys.version.split()[0]}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _package_version() -> str:
    try:
        return importlib_metadata.version("iapo-bench")
    except importlib_metadata.PackageNotFoundError:
        return "0+unknown"


def evaluate(
    env_ids: Sequence[str],
    policies: Sequence[Policy],
    output_dir: str | Path,
    *,
    split: Split = "test",
    limit: int | None = None,
    repeats: int = 1,
    seed: int = 0,
    max_turns: int = 4,
    batch_size: int = 16,
    rubric: str | None = None,
    command: Sequence[str] | None = None,
    on_start: Callable[[str, str, int, int], None] | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> ResultsWriter:
    """Evaluate every policy on every env into ``output_dir``; resumes an interrupted run.

    Each task is played ``repeats`` times; before repeat ``r`` a policy with a ``reseed``
    method is reseeded with ``seed + r``. ``on_start(agent, env_id, total, already_done)`` and
    ``on_episode(record)`` drive progress displays. ``rubric`` (a spec string) scores every
    env instead of its default rubric. Raises ``ValueError`` when ``output_dir`` holds a run
    of other env versions or settings, or ``rubric`` names no known reward.
    """
    spec = Rubric.parse(rubric).spec if rubric is not None else None
    families = {env_id: family_for_env_id(env_id) for env_id in env_ids}
    task_lists = {env_id: task_ids_for(env_id, split, limit, seed) for env_id in env_ids}
    meta = RunMetadata(
        package_version=_package_version(),
        git_version=_git_version(),
        libraries=_library_versions(),
        env_version_hashes={e: f.version_hash for e, f in families.items()},
        test_list_hashes={e: f.frozen_test_list().content_hash for e, f in families.items()},
        split=split,
        seed=seed,
        agents=[p.name for p in policies],
        models={p.name: getattr(p, "model_name", None) for p in policies},
        chat_template_hashes={p.name: getattr(p, "chat_template_hash", None) for p in policies},
        rubric={e: spec or Rubric.parse(f.default_rubric).spec for e, f in families.items()},
        max_turns=max_turns,
        command=list(command if command is not None else sys.argv),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    writer = ResultsWriter(output_dir)
    previous = writer.read_metadata()
    if previous is not None:
        for field in ("env_version_hashes", "split", "seed", "max_turns", "rubric"):
            before, now = getattr(previous, field), getattr(meta, field)
            mismatched = (
                {k: v for k, v in now.items() if before.get(k, v) != v}
                if isinstance(now, dict)
                else ({field: now} if before != now else {})
            )
            if mismatched:
                writer.close()
                raise ValueError(
                    f"{output_dir} holds a run with {field}={before}, this one has {now}; "
                    "resume only the same run, or choose a new output directory"
                )
        meta.agents = sorted(set(previous.agents) | set(meta.agents))
        meta.models = previous.models | meta.models
        meta.chat_template_hashes = previous.chat_template_hashes | meta.chat_template_hashes
        meta.date = previous.date
    writer.write_metadata(meta)
    done = writer.done()
    for env_id in env_ids:
        for policy in policies:
            keys = [(t, r) for r in range(repeats) for t in task_lists[env_id]]
            if on_start is not None:
                finished = sum((policy.name, env_id, t, r) in done for t, r in keys)
                on_start(policy.name, env_id, len(keys), finished)
            for repeat in range(repeats):
                todo = [
                    t for t in task_lists[env_id] if (policy.name, env_id, t, repeat) not in done
                ]
                reseed = getattr(policy, "reseed", None)
                if callable(reseed):
                    reseed(seed + repeat)
                for record in run_episodes(
                    env_id,
                    policy,
                    todo,
                    batch_size=batch_size,
                    max_turns=max_turns,
                    repeat=repeat,
                    rubric=spec,
                ):
                    writer.append(record)
                    if on_episode is not None:
                        on_episode(record)
    writer.write_summary()
    return writer
