"""A private event loop in a daemon thread, for synchronous callers of asyncio clients.

The LLM judge and the endpoint policy talk to servers through asyncio clients but are
called synchronously (by the rubric, by the harness), sometimes from code that already runs
an event loop. Each keeps one :class:`LoopThread`: its connections stay open between calls,
and a call works whether or not the caller has a loop of its own. Both also share one
rule for their request settings (:func:`check_request_settings`) and one backoff
(:func:`backoff_delay`). Beside :mod:`iapo_bench.core`, so rewards and baselines share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
from collections.abc import Coroutine, MutableMapping
from typing import Any, TypeVar

__all__ = [
    "LoopThread",
    "backoff_delay",
    "check_request_settings",
    "openai_client",
    "start_loop",
    "stop_loop",
]

_T = TypeVar("_T")


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def start_loop() -> asyncio.AbstractEventLoop:
    """A new event loop, running in a daemon thread until :func:`stop_loop`."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=_serve, args=(loop,), daemon=True).start()
    return loop


def stop_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Stop a loop from :func:`start_loop`; its thread then closes it. Safe to repeat."""
    with contextlib.suppress(RuntimeError):  # already closed
        loop.call_soon_threadsafe(loop.stop)


class LoopThread:
    """An event loop of its own in a daemon thread; :meth:`run` waits for a coroutine on it.

    >>> async def two():
    ...     return 2
    >>> runner = LoopThread()
    >>> runner.run(two())
    2
    >>> stop_loop(runner.loop)
    """

    def __init__(self) -> None:
        self.loop = start_loop()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the loop and wait for its result."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # no loop running here: fine
            running = None
        if running is self.loop:  # it would wait for itself forever
            coroutine.close()
            raise RuntimeError("called from the object's own event loop; await it instead")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:  # Ctrl-C included: stop the requests still in flight
            future.cancel()
            raise


def openai_client(
    clients: MutableMapping[Any, Any], base_url: str | None, api_key_env: str, timeout: float
) -> Any:
    """The ``openai.AsyncOpenAI`` client of the running loop, kept in ``clients`` by loop.

    An async client belongs to the loop it first ran on, so each loop gets its own. The key
    is read from the variable ``api_key_env`` names ("EMPTY" when unset, as vLLM expects),
    and the client never retries: callers retry with their own backoff and accounting.
    """
    import openai  # the [judge] extra

    loop = asyncio.get_running_loop()
    if loop not in clients:
        clients[loop] = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=os.environ.get(api_key_env) or "EMPTY",
            timeout=timeout,
            max_retries=0,
        )
    return clients[loop]


def check_request_settings(concurrency: int, timeout: float, retries: int, backoff: float) -> None:
    """Raise ``ValueError`` naming the first setting out of range.

    >>> check_request_settings(concurrency=0, timeout=1.0, retries=0, backoff=0.0)
    Traceback (most recent call last):
    ...
    ValueError: concurrency must be >= 1, got 0
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if backoff < 0:
        raise ValueError(f"backoff must be >= 0, got {backoff}")


def backoff_delay(backoff: float, attempt: int, rng: random.Random) -> float:
    """Seconds to wait before retry ``attempt`` (1 for the first): exponential, with jitter.

    ``backoff * 2**(attempt - 1)``, times a uniform factor in [0.5, 1.5) so that many clients
    failing together do not retry together.
    """
    return backoff * 2 ** (attempt - 1) * rng.uniform(0.5, 1.5)
