"""The evaluation harness: many envs x policies -> episode records, a summary and metadata.

- :func:`task_ids_for`: the tasks a run scores: the frozen test list, or seeds of another split.
- :func:`run_episodes`: play a batch of tasks with one policy, batching its calls.
- :func:`evaluate`: the whole run into a results folder, resuming what is already there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym

from iapo_bench.baselines.base import Policy
from iapo_bench.baselines.cached import PolicyCache, cached
from iapo_bench.core import Answer, PolicyFailure, Split, Trajectory
from iapo_bench.envs import family_for_env_id
from iapo_bench.envs.family import TaskFamily, TaskSource, load_task
from iapo_bench.leaderboard.backends import Batch, make_backend
from iapo_bench.leaderboard.provenance import (
    EnvMismatchError,
    agent_provenance,
    describe_mismatches,
    env_mismatches,
    git_version,
    library_versions,
    package_version,
    rubric_provenance,
)
from iapo_bench.leaderboard.records import EpisodeRecord, ResultsWriter, RunCommand, RunMetadata
from iapo_bench.rewards.rubric import Rubric, unavailable
from iapo_bench.tools.ocr import get_engine

logger = logging.getLogger(__name__)

__all__ = ["evaluate", "record_episode", "run_episodes", "task_ids_for"]


def task_ids_for(
    env_id: str, split: Split = "test", limit: int | None = None, seed: int = 0
) -> list[str]:
    """Task ids to score: the frozen test list (first ``limit``), or ``limit`` seeds of a split.

    Off the test split, tasks are seeds ``seed, seed + 1, ...`` cycling the difficulty levels
    (:meth:`TaskFamily.task_ids <iapo_bench.envs.family.TaskFamily.task_ids>`).
    """
    family = family_for_env_id(env_id)
    if split == "test":
        return family.task_ids("test", limit)
    return family.task_ids(split, limit, first_seed=seed)


def record_episode(
    agent: str,
    env_id: str,
    env_version_hash: str,
    trajectory: Trajectory,
    score: float | None,
    rewards: Mapping[str, float | None],
    latency_s: float,
    repeat: int = 0,
    tokens: int | None = None,
    error: str | None = None,
) -> EpisodeRecord:
    """The record of one finished episode; with ``error``, of an infrastructure error."""
    parse_errors: dict[str, int] = {}
    for parse_error in trajectory.parse_errors:
        parse_errors[parse_error.error.value] = parse_errors.get(parse_error.error.value, 0) + 1
    calls = trajectory.tool_calls
    answer = trajectory.answer
    return EpisodeRecord(
        agent=agent,
        env_id=env_id,
        env_version_hash=env_version_hash,
        task_id=trajectory.task_id,
        repeat=repeat,
        status="ok" if error is None else "infrastructure_error",
        error=error,
        score=score if error is None else None,
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


def _blocking(env: gym.Env) -> bool:
    """Whether the env's rubric waits on I/O (an LLM judge): then steps run in threads."""
    return bool(getattr(getattr(env.unwrapped, "rubric", None), "blocking", False))


_EnvKey = tuple[str, int, str | None]
"""What an env is made with: the Gymnasium id, ``max_turns`` and the rubric spec."""


@dataclasses.dataclass
class _Held:
    """Idle envs of one key, and the registration and family they were made from."""

    spec: Any
    family: TaskFamily
    envs: list[gym.Env]


class _IdleEnvs:
    """Envs that finished a :func:`run_episodes` call, kept for the next one in this process.

    Making an env costs more than an episode of a cheap policy (its observation bounds are
    measured on real renderings), and a worker plays many batches: each reuses the envs of
    the last. ``reset(options={"task_id": ...})`` sets all of an episode's state, so a reused
    env plays exactly as a new one. Envs whose rubric holds something to close (an LLM
    judge: a client, a thread, a cache file) are closed after each call instead, as are envs
    that saw an error, and envs of an id or family registered again since. At most ``limit``
    envs are kept; those of the least recently used key are closed first.
    """

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._idle: OrderedDict[_EnvKey, _Held] = OrderedDict()

    def take(self, key: _EnvKey, family: TaskFamily, count: int) -> list[gym.Env]:
        """``count`` envs for ``key``: idle ones first, then new ones."""
        env_id, max_turns, rubric = key
        with self._lock:
            held, stale = self._pop(key, family)
            taken = held.envs[:count]
            if len(held.envs) > count:
                self._idle[key] = dataclasses.replace(held, envs=held.envs[count:])
        _close(stale)
        while len(taken) < count:
            taken.append(gym.make(env_id, max_turns=max_turns, rubric=rubric))
        return taken

    def give_back(self, key: _EnvKey, family: TaskFamily, envs: list[gym.Env]) -> None:
        """Keep ``envs`` (made for ``key``) for a later call, closing the least recently used."""
        if not envs or _holds_resources(envs[0]):
            _close(envs)
            return
        with self._lock:
            held, evicted = self._pop(key, family)
            held.envs.extend(envs)
            self._idle[key] = held  # the most recently used key goes last
            extra = sum(len(h.envs) for h in self._idle.values()) - self.limit
            while extra > 0:
                oldest = self._idle[next(iter(self._idle))]
                evicted.extend(oldest.envs[:extra])
                del oldest.envs[:extra]
                extra = sum(len(h.envs) for h in self._idle.values()) - self.limit
                if not oldest.envs:
                    self._idle.popitem(last=False)
        _close(evicted)

    def clear(self) -> None:
        """Close every idle env."""
        with self._lock:
            held = [env for h in self._idle.values() for env in h.envs]
            self._idle.clear()
        _close(held)

    def _pop(self, key: _EnvKey, family: TaskFamily) -> tuple[_Held, list[gym.Env]]:
        """The idle envs of ``key`` (removed), and those made from an older registration."""
        spec = gym.registry.get(key[0])
        held = self._idle.pop(key, None)
        if held is None:
            return _Held(spec, family, []), []
        if held.spec is not spec or held.family is not family:  # registered again since
            return _Held(spec, family, []), held.envs
        return held, []


def _holds_resources(env: gym.Env) -> bool:
    """Whether a reward of the env's rubric has something to close (an LLM judge)."""
    rubric = getattr(env.unwrapped, "rubric", None)
    rewards = getattr(rubric, "rewards", {}).values()
    return any(callable(getattr(reward, "close", None)) for reward, _ in rewards)


def _close(envs: Sequence[gym.Env]) -> None:
    for env in envs:
        env.close()


_IDLE_ENVS = _IdleEnvs()


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
    The envs are kept for the next call in this process (made once per process, not once a
    call: a backend's worker makes them for its first batch only); a reused env plays
    exactly as a new one.
    ``rubric`` (a spec string) replaces the env's default rubric. A policy that reports
    ``last_usage`` (one entry per observation of its last ``act``, with
    ``completion_tokens``) has its generated tokens summed into each episode's record.

    Infrastructure errors end an episode without scoring it: a
    :class:`~iapo_bench.core.PolicyFailure` in place of a message (the endpoint failed), or a
    final reward that reports ``unavailable`` (its judge could not be reached). When the
    rubric waits on I/O (``Rubric.blocking``), the episodes of a round step concurrently, so
    their judge calls overlap.
    """
    family = family_for_env_id(env_id)
    key: _EnvKey = (env_id, max_turns, rubric)
    envs = _IDLE_ENVS.take(key, family, min(batch_size, len(task_ids)))
    pool = ThreadPoolExecutor(len(envs)) if envs and _blocking(envs[0]) else None
    clean = False
    try:
        yield from _play(env_id, family, policy, task_ids, envs, pool, repeat)
        clean = True
    except GeneratorExit:  # the caller stopped early: the envs are fine, reset sets them
        clean = True
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        if clean:
            _IDLE_ENVS.give_back(key, family, envs)
        else:
            _close(envs)


def _play(
    env_id: str,
    family: TaskFamily,
    policy: Policy,
    task_ids: Sequence[str],
    envs: list[gym.Env],
    pool: ThreadPoolExecutor | None,
    repeat: int,
) -> Iterator[EpisodeRecord]:
    """:func:`run_episodes`'s loop, ``len(envs)`` episodes at a time."""

    def record(i: int, trajectory: Trajectory, score: Any, rewards: Any, error: Any) -> Any:
        return record_episode(
            policy.name,
            env_id,
            family.version_hash,
            trajectory,
            score,
            rewards,
            elapsed[i],
            repeat,
            tokens[i],
            error,
        )

    def step(item: tuple[int, str]) -> tuple[Any, float]:
        i, action = item
        began = time.perf_counter()
        result = envs[i].step(action)
        return result, time.perf_counter() - began

    width = len(envs) or 1
    for start in range(0, len(task_ids), width):
        batch = task_ids[start : start + width]
        live: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        elapsed = [0.0] * len(batch)
        tokens: list[int | None] = [None] * len(batch)
        for i, task in enumerate(batch):
            began = time.perf_counter()
            live[i] = envs[i].reset(options={"task_id": task})
            elapsed[i] += time.perf_counter() - began
        while live:
            order = list(live)
            # The last round's observations are let go only here, once this round's exist:
            # freed earlier, their image copies' pages go back to the system (glibc trims
            # its heap) and this round's copies fault them in again (4-5x the page faults
            # with 16 episodes in flight, measured).
            observations = [live[i][0] for i in order]
            infos = [live[i][1] for i in order]
            live = {}
            began = time.perf_counter()
            actions = policy.act(observations, infos)
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
            stepping = []
            for i, action in zip(order, actions, strict=True):
                elapsed[i] += share
                if isinstance(action, PolicyFailure):
                    trajectory = envs[i].unwrapped.trajectory
                    yield record(i, trajectory, None, {}, f"policy: {action.error}")
                else:
                    stepping.append((i, action))
            # In threads the steps overlap (their judge calls wait on I/O); here one by one,
            # each result handled before the next step.
            results = pool.map(step, stepping) if pool else map(step, stepping)
            for (i, _), (result, seconds) in zip(stepping, results, strict=True):
                obs, reward, terminated, truncated, info = result
                elapsed[i] += seconds
                if not (terminated or truncated):
                    live[i] = (obs, info)
                    continue
                failed = unavailable(info["rewards"])
                error = f"{', '.join(failed)} unavailable" if failed else None
                yield record(i, info["trajectory"], reward, info["rewards"], error)


def _check_envs(
    families: Mapping[str, TaskFamily], split: Split, allow_env_mismatch: bool
) -> dict[str, dict[str, list[str]]]:
    """The envs whose bytes differ from their frozen lists; raises unless allowed."""
    if split != "test":
        return {}
    mismatches = env_mismatches(families.values())
    if mismatches:
        text = describe_mismatches(mismatches)
        if not allow_env_mismatch:
            raise EnvMismatchError(
                f"these envs would not be scored on the bytes of their frozen test lists: {text}. "
                "Install the pinned libraries, or allow it explicitly (allow_env_mismatch=True, "
                "--allow-env-mismatch): the metadata then records the difference"
            )
        logger.warning("SCORING ON BYTES THAT DIFFER FROM THE FROZEN TEST LISTS: %s", text)
    return mismatches


def _open_sources(
    families: Mapping[str, TaskFamily], specs: Mapping[str, str]
) -> dict[str, TaskSource]:
    """Each env id's source opened from its spec, checked to hold tasks of the env's family."""
    from iapo_bench.envs.loaders import open_source

    opened = {}
    for env_id, spec in specs.items():
        env_id = env_id.removeprefix("iapo_bench:")
        if env_id not in families:
            raise ValueError(f"source {spec!r} is for {env_id}, which is not evaluated")
        source = open_source(spec)
        if source.family != families[env_id].name:
            raise ValueError(
                f"source {spec!r} holds {source.family} tasks; {env_id} plays "
                f"{families[env_id].name} tasks"
            )
        opened[env_id] = source
    return opened


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
    sources: Mapping[str, str] | None = None,
    allow_env_mismatch: bool = False,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    policy_cache: str | Path | None = None,
    command: Sequence[str] | None = None,
    on_start: Callable[[str, str, int, int], None] | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> ResultsWriter:
    """Evaluate every policy on every env into ``output_dir``; resumes an interrupted run.

    Each task is played ``repeats`` times; before each batch of repeat ``r`` a policy with a
    ``reseed`` method is reseeded with ``seed + r``. ``on_start(agent, env_id, total,
    already_done)`` and ``on_episode(record)`` drive progress displays. ``rubric`` (a spec
    string) scores every env instead of its default rubric.

    ``sources`` maps env ids to local files in a public format (``"docvqa:/data/val"``,
    :func:`~iapo_bench.envs.loaders.open_source`): those envs play every task of their files
    (the first ``limit``) instead of their split, scored with the format's rubric unless
    ``rubric`` is given, and the metadata records the files' content hash (``sources``).

    Episodes run in batches of ``batch_size`` (:mod:`~iapo_bench.leaderboard.backends`): in
    this process, in ``workers`` processes, or on Ray (``backend="ray"``, ``ray_address``);
    records are written in the same order whatever runs them, so results are identical
    (latencies aside). ``policy_cache`` (a SQLite file) caches deterministic model policies'
    outputs (:mod:`~iapo_bench.baselines.cached`), so a re-score does not regenerate them.

    Raises ``ValueError`` when ``output_dir`` cannot be written or holds a run with other
    settings (:meth:`RunMetadata.merged`), or ``rubric`` names no known reward; and
    :class:`EnvMismatchError` when the test split would be scored on bytes that differ from
    the frozen lists (unless ``allow_env_mismatch``, which records the difference).
    """
    spec = Rubric.parse(rubric).spec if rubric is not None else None
    families = {env_id: family_for_env_id(env_id) for env_id in env_ids}
    opened = _open_sources(families, sources or {})
    generated = {e: f for e, f in families.items() if e not in opened}
    mismatches = _check_envs(generated, split, allow_env_mismatch)
    task_lists = {
        env_id: list(opened[env_id].task_ids(limit))
        if env_id in opened
        else task_ids_for(env_id, split, limit, seed)
        for env_id in env_ids
    }
    # A source's format has its own metric (DocVQA: ANLS); the envs' batches must use it too.
    env_rubrics = {e: spec or (opened[e].default_rubric if e in opened else None) for e in env_ids}
    rubrics = {e: Rubric.parse(env_rubrics[e] or f.default_rubric) for e, f in families.items()}
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    argv = list(command if command is not None else sys.argv)
    agents = {p.name: agent_provenance(p) for p in policies}
    try:
        meta = RunMetadata(
            package_version=package_version(),
            git_version=git_version(),
            libraries=library_versions(),
            env_version_hashes={e: f.version_hash for e, f in families.items()},
            test_list_hashes={e: f.frozen_test_list().content_hash for e, f in generated.items()},
            sources={
                e: {k: v for k, v in source.provenance.items() if k != "spec"}
                for e, source in opened.items()
            },
            env_mismatch=mismatches,
            split=split,
            seed=seed,
            max_turns=max_turns,
            batch_size=batch_size,
            agents=sorted(agents),
            models={name: a["model"] for name, a in agents.items()},
            chat_template_hashes={name: a["chat_template_hash"] for name, a in agents.items()},
            agent_settings={name: a["settings"] for name, a in agents.items()},
            rubric={e: r.spec for e, r in rubrics.items()},
            rubric_provenance={e: rubric_provenance(r) for e, r in rubrics.items()},
            ocr_engine=get_engine().provenance,
            commands=[RunCommand(argv=argv, date=now)],
            date=now,
        )
    finally:  # built for their provenance only: release what they hold (a judge's client)
        for built in rubrics.values():
            close = getattr(built, "close", None)
            if close is not None:
                close()
    writer = ResultsWriter(output_dir)
    try:
        previous = writer.read_metadata()
        if previous is not None:
            meta = meta.merged(previous)
    except ValueError as error:
        writer.close()
        raise ValueError(
            f"{output_dir}: {error}; resume only the same run, or choose a new output folder"
        ) from None
    writer.write_metadata(meta)
    done = writer.done()
    batches = []
    for env_id in env_ids:
        for index, policy in enumerate(policies):
            keys = [(t, r) for r in range(repeats) for t in task_lists[env_id]]
            if on_start is not None:
                finished = sum((policy.name, env_id, t, r) in done for t, r in keys)
                on_start(policy.name, env_id, len(keys), finished)
            for repeat in range(repeats):
                todo = [
                    t for t in task_lists[env_id] if (policy.name, env_id, t, repeat) not in done
                ]
                for start in range(0, len(todo), batch_size):
                    chunk = tuple(todo[start : start + batch_size])
                    batches.append(
                        Batch(index, env_id, chunk, repeat, seed, max_turns, env_rubrics[env_id])
                    )
    store = PolicyCache(policy_cache) if policy_cache else None
    runner = make_backend(
        backend, [cached(policy, store) for policy in policies], workers, ray_address
    )
    try:
        for records in runner.map(batches):
            for record in records:
                writer.append(record)
                if on_episode is not None:
                    on_episode(record)
    finally:
        runner.close()
        if store is not None:
            store.close()
    writer.write_summary()
    return writer
