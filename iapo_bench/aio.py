"""Asyncio plumbing for the clients of model servers: one loop thread and one retrying requester.

The LLM judge and the endpoint policy talk to servers through asyncio clients but are called
synchronously (by the rubric, by the harness, from several threads at once), sometimes from
code that already runs an event loop. Both go through one :class:`Requester`, so that their
connections, concurrency limits and retries cannot diverge:

- :class:`LoopThread`: an event loop of its own in a daemon thread; a call waits for a
  coroutine on it, whether or not the caller runs a loop of its own.
- :class:`Endpoint`: where an OpenAI-compatible server is and which variable holds its key.
- :class:`Requester`: owns the loop thread, one ``openai.AsyncOpenAI`` client and one
  semaphore per event loop, and the retry policy; :meth:`Requester.call` runs one unit of
  work with retries and returns an :class:`Attempted` (a value, or the error after the last
  attempt): it never raises for a server's failure.
- The retry policy's parts, usable alone: :func:`is_retryable` (connection errors, timeouts,
  HTTP 408, 409, 429 and 5xx, and :class:`BadReply`; never another 4xx),
  :func:`backoff_delay` (exponential, with jitter), :func:`retry_after` (the server's
  ``Retry-After``), :func:`describe_failure` (one bounded line) and
  :func:`check_request_settings`.

The ``openai`` client (the ``[judge]`` extra) is imported only to make a client: this module,
and a requester that never makes one (a local judge model's), work without it. Beside
:mod:`iapo_bench.core`, so rewards and baselines share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import functools
import logging
import math
import os
import random
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_ERROR_CHARS",
    "Attempted",
    "BadReply",
    "Endpoint",
    "LoopThread",
    "Requester",
    "backoff_delay",
    "check_request_settings",
    "describe_failure",
    "is_retryable",
    "retry_after",
    "status_code",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

MAX_ERROR_CHARS = 500
"""The longest error text a failure is described by (:func:`describe_failure`)."""

_RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx, as the openai client's own


class BadReply(ValueError):
    """The server replied, but not with what was asked: a retryable failure.

    For a body that is no chat completion, or a judge's reply that holds no verdict. Another
    attempt may get a proper reply (sampling, a flaky proxy), so :func:`is_retryable` says yes.
    """


# -- the loop thread -------------------------------------------------------------------------


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


class LoopThread:
    """An event loop of its own in a daemon thread; :meth:`run` waits for a coroutine on it.

    >>> async def two():
    ...     return 2
    >>> runner = LoopThread()
    >>> runner.run(two())
    2
    >>> runner.stop()
    >>> runner.thread.is_alive()
    False
    """

    def __init__(self, name: str = "iapo_bench.aio") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=_serve, args=(self.loop,), name=name, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run ``coroutine`` on the loop and wait (at most ``timeout`` seconds) for its result.

        Safe from any thread, with or without a running loop, except the loop's own thread,
        where it would wait for itself forever (``RuntimeError``: await the coroutine there).
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # no loop running here: fine
            running = None
        if running is self.loop:
            coroutine.close()
            raise RuntimeError("called from the object's own event loop; await it instead")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except BaseException:  # Ctrl-C or the timeout included: stop the work still in flight
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and wait for its thread to end (it closes the loop). Safe to repeat."""
        with contextlib.suppress(RuntimeError):  # already closed
            self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=10)


# -- the retry policy ------------------------------------------------------------------------


def check_request_settings(concurrency: int, timeout: float, retries: int, backoff: float) -> None:
    """Raise ``ValueError`` naming the first setting out of range.

    >>> check_request_settings(concurrency=0, timeout=1.0, retries=0, backoff=0.0)
    Traceback (most recent call last):
    ...
    ValueError: concurrency must be >= 1, got 0
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if not backoff >= 0:
        raise ValueError(f"backoff must be >= 0, got {backoff}")


def backoff_delay(backoff: float, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (1 for the first): exponential, with jitter.

    ``backoff * 2**(attempt - 1)``, times a uniform factor in [0.5, 1.5) so that many clients
    failing together do not retry together.

    >>> 0.5 <= backoff_delay(1.0, 1, random.Random(0)) < 1.5
    True
    """
    return backoff * 2 ** (attempt - 1) * rng.uniform(0.5, 1.5)


def _openai() -> Any:
    # No openai exception can exist unless the client was imported: never import it here.
    return sys.modules.get("openai")


def status_code(failure: BaseException) -> int | None:
    """The HTTP status of a failure the server answered with an error; None for any other."""
    openai = _openai()
    if openai is not None and isinstance(failure, openai.APIStatusError):
        return int(failure.status_code)
    return None


def is_retryable(failure: BaseException) -> bool:
    """Whether trying again may help: the server was unreachable, slow, busy or broken.

    Connection errors and timeouts, HTTP 408, 409, 429 and every 5xx (as the openai client's
    own retries), and a :class:`BadReply` or any ``ValueError`` (a body that is no chat
    completion, which the client raises as a JSON or validation error). Another 4xx is the
    request's fault (a bad key, an unknown model, a refused prompt): trying again is futile.

    >>> is_retryable(TimeoutError()), is_retryable(BadReply("maybe?")), is_retryable(KeyError())
    (True, True, False)
    """
    status = status_code(failure)
    if status is not None:
        return status in _RETRYABLE_STATUS or status >= 500
    openai = _openai()
    if openai is not None and isinstance(
        failure, (openai.APIConnectionError, openai.APIResponseValidationError)
    ):
        return True
    return isinstance(failure, (TimeoutError, asyncio.TimeoutError, ConnectionError, ValueError))


def _expected(failure: BaseException) -> bool:
    """Whether a failure is the server's or the network's, rather than a bug of ours."""
    openai = _openai()
    if openai is not None and isinstance(failure, openai.APIError):
        return True
    return isinstance(failure, (TimeoutError, asyncio.TimeoutError, OSError, ValueError))


def retry_after(failure: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), or None when it did not say.

    Read as the openai client does: ``retry-after-ms``, else ``retry-after`` in seconds, else
    ``retry-after`` as an HTTP date (``now`` is the current POSIX time, for tests).

    >>> class Reply:
    ...     headers = {"retry-after": "2"}
    >>> class Busy(Exception):
    ...     response = Reply()
    >>> retry_after(Busy())
    2.0
    """
    headers = getattr(getattr(failure, "response", None), "headers", None)
    if headers is None:
        return None
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    date = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(date) if date else None
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))


def describe_failure(failure: BaseException, timeout: float) -> str:
    r"""One line of at most :data:`MAX_ERROR_CHARS` characters saying what failed.

    A timeout reads ``"no reply within <timeout> s"``; any other failure is its type and
    message, with its cause (the client's "Connection error." hides "Connection refused").

    >>> describe_failure(ConnectionError("refused\nby peer"), timeout=5)
    'ConnectionError: refused by peer'
    """
    openai = _openai()
    timeouts: tuple[type[BaseException], ...] = (TimeoutError, asyncio.TimeoutError)
    if openai is not None:
        timeouts = (*timeouts, openai.APITimeoutError)
    if isinstance(failure, timeouts):
        return f"no reply within {timeout:g} s"
    text = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
    cause = failure.__cause__
    if cause is not None:
        text = f"{text} ({type(cause).__name__}: {cause})"
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


# -- the requester ---------------------------------------------------------------------------


class Endpoint(BaseModel):
    """Where an OpenAI-compatible server is, and the variable that holds its API key.

    >>> Endpoint(base_url="http://localhost:8000/v1").url
    'http://localhost:8000/v1'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(default=None, description="The server; None for OpenAI's.")
    api_key_env: str = Field(
        default="OPENAI_API_KEY",
        description="The environment variable holding the key, read when a client is made.",
    )

    @property
    def url(self) -> str:
        """The base URL, OpenAI's when none is set."""
        return self.base_url or "https://api.openai.com/v1"


@dataclasses.dataclass(frozen=True)
class Attempted(Generic[_T]):
    """What :meth:`Requester.call` got: the value, or the error after the last attempt.

    >>> Attempted(value=3, attempts=1, latency_s=0.1).ok
    True
    """

    value: _T | None
    """The work's result; None when it failed."""
    attempts: int
    """How many times the work was tried."""
    latency_s: float
    """Seconds from the first attempt to the outcome, backoff included."""
    error: str | None = None
    """What failed, in one bounded line with the attempts counted; None on success."""
    failure: BaseException | None = None
    """The last attempt's exception; None on success."""

    @property
    def ok(self) -> bool:
        """Whether the work succeeded."""
        return self.error is None


class Requester:
    """The one retrying requester of the judge and the endpoint policy.

    It owns a :class:`LoopThread` (started on first use, for synchronous callers), one
    ``openai.AsyncOpenAI`` client and one semaphore per event loop (an asyncio client and a
    semaphore belong to the loop they first ran on), and the retry policy. :meth:`call` runs
    a unit of work holding one of ``concurrency`` slots: each attempt within ``timeout``
    seconds; a retryable failure (:func:`is_retryable`) is tried again up to ``retries``
    times, after :func:`backoff_delay` seconds or the server's ``Retry-After`` if longer
    (capped at ``max_retry_after``). Thread-safe: many threads may :meth:`run` at once, and
    their work shares the loop's client and slots.

    The client never retries itself, so every attempt is counted here. Its key is read from
    the endpoint's variable when the client is made ("EMPTY" when unset, as vLLM expects),
    never stored. :meth:`close` ends the loop thread and its client; a later use starts anew.

    >>> requester = Requester(retries=2, backoff=0.0)
    >>> tries = []
    >>> async def flaky():
    ...     tries.append(1)
    ...     if len(tries) < 3:
    ...         raise ConnectionError("refused")
    ...     return "done"
    >>> result = requester.run(requester.call(flaky))
    >>> result.value, result.attempts
    ('done', 3)
    >>> requester.close()

    Args:
        endpoint: The server :meth:`client` talks to; None for work that needs no client.
        concurrency: The most units of work in flight at once (per event loop).
        timeout: Seconds one attempt may take before it counts as failed (also the client's).
        retries: How many times a retryable failure is tried again.
        backoff: Seconds before the first retry; doubled for each next one.
        max_retry_after: The longest ``Retry-After`` honoured, in seconds.
        name: Names the loop thread and the log lines.
    """

    def __init__(
        self,
        endpoint: Endpoint | None = None,
        *,
        concurrency: int = 8,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_retry_after: float = 60.0,
        name: str = "requester",
    ) -> None:
        check_request_settings(concurrency, timeout, retries, backoff)
        if not max_retry_after >= 0:
            raise ValueError(f"max_retry_after must be >= 0, got {max_retry_after}")
        self.endpoint = endpoint
        self.concurrency, self.timeout = concurrency, timeout
        self.retries, self.backoff = retries, backoff
        self.max_retry_after = max_retry_after
        self.name = name
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._semaphores: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._runner: LoopThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()
        self._random = random.Random()

    @property
    def settings(self) -> dict[str, float | int]:
        """The retry policy's settings, for provenance."""
        return {
            "concurrency": self.concurrency,
            "timeout_s": self.timeout,
            "retries": self.retries,
            "backoff_s": self.backoff,
            "max_retry_after_s": self.max_retry_after,
        }

    # -- per event loop ----------------------------------------------------------------------

    def client(self) -> Any:
        """The ``openai.AsyncOpenAI`` client of the running event loop (made on first use)."""
        if self.endpoint is None:
            raise RuntimeError(f"requester {self.name!r} has no endpoint to make a client for")
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import openai  # the [judge] extra

            client = openai.AsyncOpenAI(
                base_url=self.endpoint.base_url,
                api_key=os.environ.get(self.endpoint.api_key_env) or "EMPTY",
                timeout=self.timeout,
                max_retries=0,
            )
            self._clients[loop] = client
        return client

    def semaphore(self) -> asyncio.Semaphore:
        """The semaphore of the running event loop: ``concurrency`` slots."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores.setdefault(loop, asyncio.Semaphore(self.concurrency))
        return semaphore

    # -- work --------------------------------------------------------------------------------

    def delay(self, attempt: int, failure: BaseException) -> float:
        """Seconds before retry ``attempt``: the backoff, or the server's longer ``Retry-After``."""
        delay = backoff_delay(self.backoff, attempt, self._random)
        asked = retry_after(failure)
        return delay if asked is None else max(delay, min(asked, self.max_retry_after))

    async def call(self, work: Callable[[], Awaitable[_T]]) -> Attempted[_T]:
        """Run ``work()`` in one slot, retrying as the policy says; never raises for a failure.

        ``work`` is called anew for each attempt. A failure that is not the server's or the
        network's (not :func:`is_retryable` nor an expected API error) is logged with its
        traceback: it is a bug to see, though it still comes back as an error.
        """
        async with self.semaphore():
            began = time.perf_counter()
            attempt, last = 0, None
            while attempt <= self.retries:
                attempt += 1
                try:
                    value = await asyncio.wait_for(work(), self.timeout)
                except Exception as failure:
                    last = failure
                    if not is_retryable(failure):
                        if not _expected(failure):
                            logger.warning("%s: unexpected failure", self.name, exc_info=True)
                        break
                    if attempt <= self.retries:
                        await asyncio.sleep(self.delay(attempt, failure))
                    continue
                return Attempted(value, attempt, time.perf_counter() - began)
            assert last is not None
            plural = "s" if attempt > 1 else ""
            error = f"{describe_failure(last, self.timeout)} (after {attempt} attempt{plural})"
            return Attempted(None, attempt, time.perf_counter() - began, error, last)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the requester's own loop thread and wait for its result.

        For synchronous callers, with or without a running loop of their own; the loop keeps
        the client's connections open from one call to the next.
        """
        return self._loop_thread().run(coroutine)

    @property
    def thread(self) -> threading.Thread | None:
        """The loop thread while it runs (after a first :meth:`run`, until :meth:`close`)."""
        runner = self._runner
        return None if runner is None else runner.thread

    def _loop_thread(self) -> LoopThread:
        with self._lock:
            if self._runner is None:
                self._runner = LoopThread(name=f"iapo_bench.aio:{self.name}")
                # A requester dropped without close() still ends its thread.
                self._finalizer = weakref.finalize(self, self._runner.stop)
            return self._runner

    async def aclose(self) -> None:
        """Close the client of the running event loop, if it has one."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def close(self) -> None:
        """Close the own loop's client and end the loop thread; a later use starts anew."""
        with self._lock:
            runner, self._runner = self._runner, None
            finalizer, self._finalizer = self._finalizer, None
        if runner is not None:
            with contextlib.suppress(Exception):  # best effort: the loop is going
                runner.run(self.aclose(), timeout=10)
            if finalizer is not None:
                finalizer.detach()
            runner.stop()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its settings: loops, clients and semaphores do not travel.
        settings = {
            "concurrency": self.concurrency,
            "timeout": self.timeout,
            "retries": self.retries,
            "backoff": self.backoff,
            "max_retry_after": self.max_retry_after,
            "name": self.name,
        }
        return (functools.partial(Requester, **settings), (self.endpoint,))

    def __repr__(self) -> str:
        return f"Requester({self.endpoint!r}, name={self.name!r})"
