"""Where episodes run: in this process, in a pool of worker processes, or on a Ray cluster.

The harness cuts each (agent, env, repeat) into batches of ``batch_size`` tasks and hands
them to a backend, which plays each batch with :func:`play_batch` and returns the records
batch by batch, in the order the batches were given. A batch is exactly what one process
would have in flight at once, so a batch's records do not depend on where it ran: results
are the same with one process, N workers or a Ray cluster (latencies aside).

- :class:`Batch`: one batch of tasks for one agent.
- :func:`play_batch`: play a batch (reseeding the policy first); what every backend runs.
- :class:`InProcess`: here, one batch after another.
- :class:`WorkerPool`: ``workers`` processes (spawned, so no thread or lock state is
  copied), started once per run; each unpickles the policies once and builds its own envs
  (once: the harness keeps them from batch to batch), tools and OCR engine, with the
  machine's threads split between the workers.
- :class:`RayBackend`: tasks on a Ray cluster (the ``[ray]`` extra); ``ray.init`` is called
  when no cluster is connected (a local one, or ``address``).
"""

from __future__ import annotations

import collections
import dataclasses
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol

from iapo_bench.leaderboard.records import EpisodeRecord

__all__ = [
    "Backend",
    "Batch",
    "InProcess",
    "RayBackend",
    "WorkerPool",
    "make_backend",
    "play_batch",
]


@dataclasses.dataclass(frozen=True)
class Batch:
    """The tasks one agent plays at once on one env, in one repeat."""

    agent: int
    """Index of the policy in the backend's list."""
    env_id: str
    """The Gymnasium id."""
    task_ids: tuple[str, ...]
    """The tasks, in the order their episodes start."""
    repeat: int
    """Which repeat of the tasks (the policy is reseeded with ``seed + repeat``)."""
    seed: int
    """The run's agent seed."""
    max_turns: int
    """The turn limit."""
    rubric: str | None
    """A rubric spec replacing the env's default, or None."""


def play_batch(policy: Any, batch: Batch) -> list[EpisodeRecord]:
    """Play every task of ``batch`` at once with ``policy``; its records, as they finished."""
    from iapo_bench.leaderboard.harness import run_episodes  # the harness imports us

    reseed = getattr(policy, "reseed", None)
    if callable(reseed):
        reseed(batch.seed + batch.repeat)
    return list(
        run_episodes(
            batch.env_id,
            policy,
            batch.task_ids,
            batch_size=len(batch.task_ids),
            max_turns=batch.max_turns,
            repeat=batch.repeat,
            rubric=batch.rubric,
        )
    )


class Backend(Protocol):
    """Runs batches; yields each batch's records in the order the batches came."""

    def map(self, batches: Iterable[Batch]) -> Iterator[list[EpisodeRecord]]:
        """The records of each batch, in order."""
        ...

    def close(self) -> None:
        """Release workers and connections."""
        ...


class InProcess:
    """Plays every batch in this process, one after another."""

    def __init__(self, policies: Sequence[Any]) -> None:
        self.policies = list(policies)

    def map(self, batches: Iterable[Batch]) -> Iterator[list[EpisodeRecord]]:
        """The records of each batch, in order."""
        for batch in batches:
            yield play_batch(self.policies[batch.agent], batch)

    def close(self) -> None:
        """Nothing to release."""


_WORKER_POLICIES: list[Any] = []

_THREAD_VARIABLES = (
    "IAPO_BENCH_OCR_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENCV_FOR_THREADS_NUM",
)
"""What caps a worker's threads: ONNX Runtime's (OCR), OpenMP's and MKL's (torch), OpenCV's
(the OCR family degrades its photographs with it)."""


def _start_worker(policies: Sequence[Any], threads: int) -> None:
    # Each worker gets its share of the cores: ONNX Runtime (OCR), torch and OpenCV would
    # otherwise each start one thread per core in every worker and fight over them. The
    # variables cap what is imported from now on; libraries the policies brought in while
    # they were unpickled are set directly. Nothing is imported for it: torch costs seconds.
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    _WORKER_POLICIES[:] = policies
    torch, cv2 = sys.modules.get("torch"), sys.modules.get("cv2")
    if torch is not None:
        torch.set_num_threads(threads)
    if cv2 is not None:
        cv2.setNumThreads(threads)


def _play_in_worker(batch: Batch) -> list[EpisodeRecord]:
    return play_batch(_WORKER_POLICIES[batch.agent], batch)


class WorkerPool:
    """Plays batches in ``workers`` spawned processes; results come back in batch order.

    The workers start once per pool (one run); each unpickles the policies once and makes
    its envs for its first batch only (the harness keeps them for the next). A batch
    goes to whichever worker is free, so a slow batch holds up no other; a worker is sent
    one batch's task ids and sends back its records, so messages stay small. At most
    ``max_in_flight`` batches (default four a worker) are handed out and not yet collected.
    A worker that fails (an exception, or a process that dies) raises in :meth:`map`
    (``BrokenProcessPool`` for a dead one).
    """

    def __init__(
        self, policies: Sequence[Any], workers: int, max_in_flight: int | None = None
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        threads = max(1, (os.cpu_count() or 1) // workers)
        self.max_in_flight = max_in_flight or 4 * workers
        self.pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(list(policies), threads),
        )

    def map(self, batches: Iterable[Batch]) -> Iterator[list[EpisodeRecord]]:
        """The records of each batch, in order, played by the workers in parallel."""
        pending: collections.deque[Future[list[EpisodeRecord]]] = collections.deque()
        try:
            for batch in batches:
                pending.append(self.pool.submit(_play_in_worker, batch))
                if len(pending) >= self.max_in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # stopped early: batches not started are dropped
                future.cancel()

    def close(self) -> None:
        """Stop the workers; batches not yet started are dropped (a resume plays them)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Plays batches as Ray tasks (the ``[ray]`` extra); results come back in batch order.

    Args:
        policies: The policies; each is put in Ray's object store once.
        address: A cluster to connect to when none is connected yet (None starts a local one).
        max_in_flight: The most batches submitted and not yet collected.
    """

    def __init__(
        self, policies: Sequence[Any], address: str | None = None, max_in_flight: int = 64
    ) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError("the ray backend needs Ray: pip install 'iapo-bench[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.play = ray.remote(play_batch)
        self.policies = [ray.put(policy) for policy in policies]
        self.max_in_flight = max_in_flight

    def map(self, batches: Iterable[Batch]) -> Iterator[list[EpisodeRecord]]:
        """The records of each batch, in order, played on the cluster."""
        pending: list[Any] = []
        for batch in batches:
            pending.append(self.play.remote(self.policies[batch.agent], batch))
            if len(pending) >= self.max_in_flight:
                yield self.ray.get(pending.pop(0))
        while pending:
            yield self.ray.get(pending.pop(0))

    def close(self) -> None:
        """Drop the policies from the object store (the cluster stays up)."""
        self.policies = []


def make_backend(
    backend: str, policies: Sequence[Any], workers: int, address: str | None = None
) -> Backend:
    """The backend ``backend`` names: ``"local"`` (``workers`` processes) or ``"ray"``."""
    if backend == "ray":
        return RayBackend(policies, address=address)
    if backend != "local":
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    return InProcess(policies) if workers == 1 else WorkerPool(policies, workers)
