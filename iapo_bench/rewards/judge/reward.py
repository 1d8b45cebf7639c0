"""The LLM judge as a reward: :class:`LLMJudge`, its group form, and :func:`judge_from_env`.

A judge never fails an episode: every answer gets a score. The metrics beside it say where
the score came from, and so how the harness treats the episode:

- The judge gave a verdict (or the cache had one): the judge's score; ``fallback`` 0,
  ``unavailable`` 0.
- No judge configured: exact match's score; ``fallback`` 1, ``unavailable`` 0. It is a
  configuration, recorded in :attr:`LLMJudge.provenance`, not a failure.
- The answer reads as one of the template's verdicts (``"YES"``, ``"yes."``, ``"10/10"``):
  exact match's score, without asking the judge, so that a policy cannot learn to write the
  verdict; ``fallback`` 1, ``unavailable`` 0.
- The judge replied, but never readably, after every attempt, or refused the request's
  content (HTTP 400, 413, 422): exact match's score; ``fallback`` 1, ``unavailable`` 0. The
  answer may be what made the judge babble or refuse; were this an infrastructure error, a
  policy could get its episodes left out of the score by making the judge babble.
- The judge was never reached, after every attempt (connection refused, timeout, HTTP 5xx or
  429, a body that is no chat completion, a bad key or model name): exact match's score;
  ``fallback`` 1, ``unavailable`` 1. An infrastructure error: the harness leaves the episode
  out of the score and plays it again on resume.

As a reward, ``judge(trajectory, task)`` returns ``{"value": score, "fallback": 0 or 1,
"unavailable": 0 or 1}``, which a :class:`~iapo_bench.rewards.rubric.Rubric` reports as
``llm_judge``, ``llm_judge.fallback`` and ``llm_judge.unavailable``
(:data:`~iapo_bench.rewards.rubric.UNAVAILABLE`). Fallbacks are never cached.

Sharing and closing: :func:`judge_from_env` (what a rubric spec's ``llm_judge`` builds, once
per env) returns one judge per configuration, reference counted; :meth:`LLMJudge.close`
releases one reference and the last one closes its loop thread, client and SQLite
connection. :meth:`~iapo_bench.rewards.rubric.Rubric.close` and ``ToolUseEnv.close()`` call
it, so they end when the last env of a run closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from iapo_bench.aio import BadReply, Requester, status_code
from iapo_bench.core import Task, Trajectory
from iapo_bench.rewards.judge.backends import JudgeBackend, OpenAIJudge
from iapo_bench.rewards.judge.cache import JudgeCache, default_cache_path
from iapo_bench.rewards.judge.templates import TEMPLATES, JudgeInput, JudgeTemplate, Verdict
from iapo_bench.rewards.match import match_text

__all__ = ["LLMJudge", "judge_from_env"]

logger = logging.getLogger(__name__)

_NO_JUDGE = "no judge configured"
_AS_VERDICT = "the answer reads as a verdict of the template: scored by exact match, not shown"
# The request's content was refused: the answer may be the cause, so not an infrastructure error.
_REFUSED_STATUS = frozenset({400, 413, 422})
_MAX_RAW_IN_ERROR = 200


class UnreadableVerdict(BadReply):
    """The judge replied, but with no verdict the template allows (retried like a bad reply)."""

    def __init__(self, raw: str) -> None:
        super().__init__(f"unreadable judge output {_shorten(raw)!r}")
        self.raw = raw


def _shorten(raw: str) -> str:
    return raw if len(raw) <= _MAX_RAW_IN_ERROR else raw[:_MAX_RAW_IN_ERROR] + "..."


class LLMJudge:
    """The LLM judge reward: a score in [0, 1] for an answer, from a judge model.

    Misses of the cache go to the backend through a :class:`~iapo_bench.aio.Requester` (the
    endpoint policy's too): at most ``concurrency`` calls at a time (per event loop), each
    within ``timeout`` seconds; a call that fails retryably (connection, timeout, 408, 409,
    429, 5xx, a body that is no completion) or replies without a readable verdict is retried
    ``retries`` times, after ``backoff * 2**k`` seconds with jitter (or the server's longer
    ``Retry-After``). An answer the judge still cannot judge gets exact match's score
    (:func:`~iapo_bench.rewards.match.match_text`), flagged ``fallback`` with the error kept,
    and ``unavailable`` when the judge was never reached (see
    :mod:`iapo_bench.rewards.judge.reward`). An answer that reads as a verdict is scored by
    exact match without asking. With no backend, every verdict is a fallback ("no judge
    configured").

    Thread-safe: many threads may call it at once (the harness steps a batch's envs
    concurrently, as :attr:`blocking` invites), and their requests overlap on the judge's own
    event loop. :attr:`grouped` judges a whole GRPO group concurrently.

    >>> judge = LLMJudge(None, cache_path=False)
    >>> answer = JudgeInput(question="How many?", reference="5", prediction="5")
    >>> [verdict] = judge.verdicts([answer])
    >>> verdict.score, verdict.fallback, verdict.unavailable, verdict.error
    (1.0, True, False, 'no judge configured')

    Args:
        backend: The judge model (:class:`~iapo_bench.rewards.judge.OpenAIJudge`,
            :class:`~iapo_bench.rewards.judge.TransformersJudge`), or None.
        template: A name of :data:`~iapo_bench.rewards.judge.TEMPLATES` or a
            :class:`~iapo_bench.rewards.judge.JudgeTemplate`.
        concurrency: The most backend calls in flight at once.
        timeout: Seconds one backend call may take before it counts as failed.
        retries: How many times a failed call is tried again.
        backoff: Seconds before the first retry; doubled for each next one.
        cache_path: The SQLite file; None for
            :func:`~iapo_bench.rewards.judge.default_cache_path`, False for no cache.
    """

    blocking = True
    """A reward that waits on I/O: the harness may score a batch's episodes concurrently."""

    def __init__(
        self,
        backend: JudgeBackend | None,
        template: str | JudgeTemplate = "yes_no",
        concurrency: int = 8,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        cache_path: str | Path | Literal[False] | None = None,
    ) -> None:
        if isinstance(template, str):
            if template not in TEMPLATES:
                raise ValueError(f"unknown judge template {template!r}; known: {list(TEMPLATES)}")
            template = TEMPLATES[template]
        self.requester = Requester(
            None if backend is None else backend.endpoint,
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            name="llm judge",
        )
        """Owns the event loop, the client, the concurrency limit and the retries."""
        self.backend, self.template = backend, template
        self.cache: JudgeCache | None = None
        if cache_path is not False and backend is not None:
            self.cache = JudgeCache(default_cache_path() if cache_path is None else cache_path)
        self.name = self.__name__ = "llm_judge"
        self._references = 1  # see judge_from_env
        self._shared_key: tuple[Any, ...] | None = None

    @property
    def concurrency(self) -> int:
        """The most backend calls in flight at once (per event loop)."""
        return self.requester.concurrency

    @property
    def timeout(self) -> float:
        """Seconds one backend call may take."""
        return self.requester.timeout

    @property
    def retries(self) -> int:
        """How many times a failed call is tried again."""
        return self.requester.retries

    @property
    def backoff(self) -> float:
        """Seconds before the first retry."""
        return self.requester.backoff

    @property
    def provenance(self) -> dict[str, Any]:
        """What its verdicts depend on, JSON-ready, for a run's metadata.

        The backend (``judge``: model and endpoint, or None for no judge, every verdict then
        exact match's) with its sampling settings, the template's name and hash, the answer
        cap, and the request settings that can change a verdict (a timeout or too few
        retries turn verdicts into fallbacks).
        """
        backend = self.backend
        return {
            "reward": self.name,
            "judge": None if backend is None else backend.name,
            "backend": None if backend is None else backend.provenance,
            "template": self.template.name,
            "template_sha256": self.template.sha256,
            "max_prediction_chars": self.template.max_prediction_chars,
            "timeout_s": self.timeout,
            "retries": self.retries,
            "fallback": "exact_match",
        }

    # -- judging -----------------------------------------------------------------------------

    async def averdicts(self, inputs: Iterable[JudgeInput]) -> list[Verdict]:
        """The verdict of each input, in order: from the cache, else judged concurrently.

        Identical inputs are judged once. A cache that cannot be read or written is skipped,
        with a warning: it never costs a verdict.
        """
        items = list(inputs)
        backend = self.backend
        if backend is None:
            return [self._fallback(item, _NO_JUDGE) for item in items]
        verdicts: dict[int, Verdict] = {}
        keys: dict[int, str] = {}
        for i, item in enumerate(items):
            if self.template.parse(item.prediction) is not None:
                verdicts[i] = self._fallback(item, _AS_VERDICT)
            else:
                keys[i] = JudgeCache.key(backend.name, self.template, item)
        found = self._read_cache(list(keys.values()))
        todo = {key: items[i] for i, key in keys.items() if key not in found}
        order = list(todo)
        size = backend.max_batch
        chunks = [order[i : i + size] for i in range(0, len(order), size)]
        results = await asyncio.gather(*(self._judge([todo[k] for k in c]) for c in chunks))
        fresh = dict(zip(order, itertools.chain.from_iterable(results), strict=True))
        self._write_cache([(todo[k], v) for k, v in fresh.items() if not v.fallback])
        failed = [v for v in fresh.values() if v.fallback]
        if failed:
            logger.warning(
                "LLM judge %s: %d of %d verdicts fell back to exact match (%d unavailable); "
                "first error: %s",
                backend.name,
                len(failed),
                len(fresh),
                sum(v.unavailable for v in failed),
                failed[0].error,
            )
        for i, key in keys.items():
            verdicts[i] = found[key] if key in found else fresh[key]
        return [verdicts[i] for i in range(len(items))]

    # The cache is read and written on the loop: a sub-millisecond SQLite query costs less
    # than a hop to a worker thread (twice the time of a 32-answer cache hit, measured).
    def _read_cache(self, keys: list[str]) -> dict[str, Verdict]:
        if self.cache is None or not keys:
            return {}
        try:
            return self.cache.get_many(keys)
        except (sqlite3.Error, OSError) as error:
            logger.warning("LLM judge cache %s unreadable: %s", self.cache.path, error)
            return {}

    def _write_cache(self, judged: list[tuple[JudgeInput, Verdict]]) -> None:
        if self.cache is None or not judged or self.backend is None:
            return
        try:
            self.cache.put_many(self.backend.name, self.template, judged)
        except (sqlite3.Error, OSError) as error:
            logger.warning("LLM judge cache %s not written: %s", self.cache.path, error)

    async def _judge(self, items: list[JudgeInput]) -> list[Verdict]:
        """Judge one backend batch, retrying what failed, then falling back."""
        backend, template, requester = self.backend, self.template, self.requester
        assert backend is not None
        prompts = [template.render(item) for item in items]
        verdicts: dict[int, Verdict] = {}
        raws: dict[int, str] = {}
        pending = list(range(len(items)))
        replied = False  # whether the judge ever answered: then it is no infrastructure failure

        async def attempt() -> None:
            nonlocal replied
            replies = await backend.complete([prompts[i] for i in pending], template, requester)
            if len(replies) != len(pending):
                raise BadReply(f"{len(replies)} replies to {len(pending)} prompts")
            replied = True
            unread = []
            for i, reply in zip(pending, replies, strict=True):
                score = template.parse(reply.raw) if reply.score is None else reply.score
                if score is None:
                    raws[i] = reply.raw
                    unread.append(i)
                else:
                    verdicts[i] = Verdict(score=score, raw=reply.raw)
            pending[:] = unread
            if unread:
                raise UnreadableVerdict(raws[unread[0]])

        result = await requester.call(attempt)
        unavailable = not replied and status_code(result.failure) not in _REFUSED_STATUS
        for i in pending:
            error = result.error or "no verdict"
            if isinstance(result.failure, UnreadableVerdict):  # each its own output
                plural = "s" if result.attempts > 1 else ""
                error = (
                    f"unreadable judge output {_shorten(raws[i])!r} "
                    f"(after {result.attempts} attempt{plural})"
                )
            verdicts[i] = self._fallback(items[i], error, raws.get(i), unavailable)
        return [verdicts[i] for i in range(len(items))]

    @staticmethod
    def _fallback(
        item: JudgeInput, error: str, raw: str | None = None, unavailable: bool = False
    ) -> Verdict:
        score = match_text(item.prediction, item.reference, item.answer_type)
        return Verdict(score=score, raw=raw, fallback=True, unavailable=unavailable, error=error)

    def verdicts(self, inputs: Iterable[JudgeInput]) -> list[Verdict]:
        """:meth:`averdicts` from synchronous code, with or without a running event loop.

        It runs on the judge's own event loop in a daemon thread, which keeps the endpoint's
        connections open from one call to the next; safe from several threads at once.
        """
        items = list(inputs)
        if self.backend is None or not items:  # nothing to wait for: no thread either
            return [self._fallback(item, _NO_JUDGE) for item in items]
        return self.requester.run(self.averdicts(items))

    # -- as a reward -------------------------------------------------------------------------

    def rewards(
        self, trajectories: Sequence[Trajectory], tasks: Sequence[Task]
    ) -> list[dict[str, float | None]]:
        """The reward of each (trajectory, task) pair, judged together (concurrently).

        An episode without an answer scores 0 and is not sent to the judge.
        """
        results: list[dict[str, float | None]] = [
            {"value": 0.0, "fallback": 0.0, "unavailable": 0.0} for _ in trajectories
        ]
        asked: dict[int, JudgeInput] = {}
        for i, (trajectory, task) in enumerate(zip(trajectories, tasks, strict=True)):
            if trajectory.answer is not None:
                asked[i] = JudgeInput(
                    question=task.question,
                    reference=task.answer,
                    prediction=trajectory.answer.text,
                    answer_type=task.answer_type,
                )
        if asked:
            for i, verdict in zip(asked, self.verdicts(asked.values()), strict=True):
                results[i] = {
                    "value": verdict.score,
                    "fallback": float(verdict.fallback),
                    "unavailable": float(verdict.unavailable),
                }
        return results

    def __call__(self, trajectory: Trajectory, task: Task) -> dict[str, float | None]:
        """``{"value": score, "fallback": 0/1, "unavailable": 0/1}`` for one episode."""
        return self.rewards([trajectory], [task])[0]

    @property
    def grouped(self) -> _GroupedJudge:
        """This judge as a group reward: the G answers of one prompt are judged concurrently."""
        return _GroupedJudge(self)

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the client of the running event loop (for callers of :meth:`averdicts`)."""
        await self.requester.aclose()

    def close(self) -> None:
        """Release one reference; the last closes the loop thread, the client and the cache.

        A judge is made holding one reference, and :func:`judge_from_env` adds one for each
        caller it hands a shared judge to. Using a closed judge opens what it needs again.
        """
        with _SHARED_LOCK:
            self._references = max(0, self._references - 1)
            if self._references:
                return
            if self._shared_key is not None:
                if _SHARED.get(self._shared_key) is self:
                    del _SHARED[self._shared_key]
                self._shared_key = None
        self.requester.close()
        if self.cache is not None:
            self.cache.close()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its settings (for worker processes), unshared; the loop and cache reopen.
        cache_path = False if self.cache is None else self.cache.path
        settings = (self.template, self.concurrency, self.timeout, self.retries, self.backoff)
        return (LLMJudge, (self.backend, *settings, cache_path))

    def __enter__(self) -> LLMJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LLMJudge({self.backend!r}, template={self.template.name!r})"


class _GroupedJudge:
    """An :class:`LLMJudge` as a group reward (``group = True``): one call per GRPO group."""

    group = True
    blocking = True

    def __init__(self, judge: LLMJudge) -> None:
        self.judge = judge
        self.name = self.__name__ = judge.name

    @property
    def provenance(self) -> dict[str, Any]:
        """The judge's provenance."""
        return self.judge.provenance

    def __call__(
        self, trajectories: Sequence[Trajectory], task: Task, **context: Any
    ) -> list[Mapping[str, float | None]]:
        """One reward mapping per trajectory, in order."""
        return list(self.judge.rewards(trajectories, [task] * len(trajectories)))

    def close(self) -> None:
        """Close (release) the judge."""
        self.judge.close()


# One judge per configuration, alive while someone holds it; the lock also guards references.
_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], LLMJudge] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def judge_from_env(**options: Any) -> LLMJudge:
    """The judge that the environment configures; the rubric's ``llm_judge``.

    ``IAPO_BENCH_JUDGE_MODEL`` names the model (unset: no judge, every verdict a flagged
    exact-match fallback), ``IAPO_BENCH_JUDGE_BASE_URL`` its OpenAI-compatible endpoint,
    ``IAPO_BENCH_JUDGE_API_KEY_ENV`` the variable holding the key (default
    ``OPENAI_API_KEY``), ``IAPO_BENCH_JUDGE_TEMPLATE`` the template (default ``yes_no``).
    ``options`` go to :class:`LLMJudge`.

    Calls with the same configuration and options share one judge (its loop thread, client,
    cache connection and concurrency limit), each holding a reference that
    :meth:`LLMJudge.close` releases: what a run's many envs, each parsing its rubric, need.
    """
    template = os.environ.get("IAPO_BENCH_JUDGE_TEMPLATE") or "yes_no"
    model = (os.environ.get("IAPO_BENCH_JUDGE_MODEL") or "").strip()
    base_url = os.environ.get("IAPO_BENCH_JUDGE_BASE_URL") or None
    api_key_env = os.environ.get("IAPO_BENCH_JUDGE_API_KEY_ENV") or "OPENAI_API_KEY"
    key = (model, base_url, api_key_env, template, tuple(sorted(map(repr, options.items()))))
    with _SHARED_LOCK:
        judge = _SHARED.get(key)
        if judge is not None:
            judge._references += 1
            return judge
        backend = OpenAIJudge(model, base_url=base_url, api_key_env=api_key_env) if model else None
        judge = LLMJudge(backend, template=template, **options)
        judge._shared_key = key
        _SHARED[key] = judge
        return judge
