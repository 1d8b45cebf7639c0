"""A policy behind any OpenAI-compatible chat endpoint: vLLM, SGLang, OpenAI, Ollama.

- :class:`Usage`, :class:`UsageTotals`: tokens, latency, attempts and errors, per message
  and summed.
- :class:`EndpointPolicy`: the policy. Concurrent, with timeouts, retries with backoff, and
  accounting, all through :class:`~iapo_bench.aio.Requester` (the LLM judge's requester
  too); it never raises for an unavailable server: a message it could not get is a
  :class:`~iapo_bench.core.PolicyFailure`, an infrastructure error that the harness keeps out
  of the score.

What goes over the wire (messages out, the reply back) is :mod:`iapo_bench.wire`; its
functions are importable from here too. The ``openai`` client (the ``[judge]`` extra) is
imported lazily: this module imports without it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.aio import Endpoint, Requester
from iapo_bench.core import PolicyFailure
from iapo_bench.wire import (
    ToolImages,
    action_from_reply,
    image_data_url,
    reply_message,
    request_messages,
)

__all__ = [
    "EndpointPolicy",
    "ToolImages",
    "Usage",
    "UsageTotals",
    "action_from_reply",
    "image_data_url",
    "request_messages",
]

logger = logging.getLogger(__name__)


# -- accounting -------------------------------------------------------------------------------


class Usage(BaseModel):
    """What one message cost: tokens (as the server reports them), time, attempts, error.

    >>> Usage(prompt_tokens=120, completion_tokens=9, latency_s=0.4, attempts=1).error is None
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: int | None = Field(
        default=None, description="Prompt tokens, from the reply's usage; None if not reported."
    )
    completion_tokens: int | None = Field(
        default=None, description="Generated tokens, from the reply's usage; None if not reported."
    )
    latency_s: float = Field(
        ge=0, description="Seconds from the first attempt to the last reply, backoff included."
    )
    attempts: int = Field(ge=0, description="Requests made for this message (retries included).")
    error: str | None = Field(
        default=None, description="Why the message failed after every attempt; None if it did not."
    )


class UsageTotals(BaseModel):
    """Running totals of a policy's :class:`Usage` records.

    >>> UsageTotals().add([Usage(completion_tokens=9, latency_s=0.5, attempts=2)]).attempts
    2
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: int = Field(default=0, description="Messages asked for.")
    failed: int = Field(default=0, description="Messages that failed after every attempt.")
    attempts: int = Field(default=0, description="Requests made, retries included.")
    prompt_tokens: int = Field(default=0, description="Prompt tokens reported.")
    completion_tokens: int = Field(default=0, description="Generated tokens reported.")
    latency_s: float = Field(default=0.0, description="Summed latency of the messages, seconds.")

    def add(self, usages: Sequence[Usage]) -> UsageTotals:
        """These totals with ``usages`` added."""
        return UsageTotals(
            messages=self.messages + len(usages),
            failed=self.failed + sum(u.error is not None for u in usages),
            attempts=self.attempts + sum(u.attempts for u in usages),
            prompt_tokens=self.prompt_tokens + sum(u.prompt_tokens or 0 for u in usages),
            completion_tokens=self.completion_tokens
            + sum(u.completion_tokens or 0 for u in usages),
            latency_s=self.latency_s + sum(u.latency_s for u in usages),
        )


# -- the policy -------------------------------------------------------------------------------


class EndpointPolicy:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint, as a policy.

    Each observation's chat (``info["messages"]``) is sent as one request
    (:func:`~iapo_bench.wire.request_messages`), at most ``concurrency`` at a
    time, with the tool schemas passed natively (``native_tools``; the server must parse
    tool calls: vLLM's ``--enable-auto-tool-choice --tool-call-parser hermes``) or left to
    the system prompt's Hermes block (signatures, in a family's compact style), the model
    then writing text actions itself. (The system prompt keeps that block either way, so
    that every policy reads the same prompt; a server whose chat template also lists native
    tools shows them twice.) The reply becomes our text action
    (:func:`~iapo_bench.wire.action_from_reply`).

    Requests go through a :class:`~iapo_bench.aio.Requester`: a request that fails
    (connection refused, no reply within ``timeout`` seconds, HTTP 5xx, 408, 409, 429, a body
    that is no chat completion) is tried again up to ``retries`` times, after
    ``backoff * 2**k`` seconds with jitter (or the server's longer ``Retry-After``); other
    4xx replies are not retried. A message that still fails does not raise: it is a
    :class:`~iapo_bench.core.PolicyFailure` holding the error (one line, bounded), which the
    harness records as an infrastructure error, out of the score and played again on resume,
    never as the model's answer. After each call :attr:`last_usage` holds one :class:`Usage`
    per message (its error included) and :attr:`total_usage` the running totals.

    ``act`` runs on the requester's own event loop in a daemon thread, so it works with or
    without a running loop in the caller, and from several threads at once; async code can
    ``await aact(...)`` instead. The API key is read from ``api_key_env`` when a client is
    made (``"EMPTY"`` when unset, as vLLM expects), never stored. Needs the ``[judge]`` extra
    (the ``openai`` client).

    Example (against a running vLLM server)::

        policy = EndpointPolicy("Qwen/Qwen2.5-VL-3B-Instruct", base_url="http://localhost:8000/v1")
        messages = policy.act([obs], [info])
        policy.last_usage[0].completion_tokens

    Args:
        model: The model name the endpoint serves.
        base_url: The endpoint, e.g. ``"http://localhost:8000/v1"``; None for OpenAI's.
        api_key_env: The environment variable holding the API key.
        concurrency: The most requests in flight at once (per event loop).
        timeout: Seconds one request may take before it counts as failed.
        retries: How many times a failed request is tried again.
        backoff: Seconds before the first retry; doubled for each next one.
        temperature: Sampling temperature.
        max_tokens: The longest reply asked for.
        top_p: Nucleus sampling; None leaves the server's default.
        seed: The sampling seed sent with every request; None sends none. With a seed,
            identical prompts get identical samples (servers permitting).
        native_tools: Pass ``info["tools"]`` as the request's ``tools`` and the episode's
            calls as ``tool_calls``; else the conversation is plain text.
        tool_images: Where a tool message's images go, with native tools: ``"user"`` (a
            following user message) or ``"inline"`` (the tool message).
        name: The name shown in results; by default the model name.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        temperature: float = 0.0,
        max_tokens: int = 512,
        top_p: float | None = None,
        seed: int | None = None,
        native_tools: bool = True,
        tool_images: ToolImages = "user",
        name: str | None = None,
    ) -> None:
        try:
            import openai  # noqa: F401
        except ImportError:
            raise ImportError(
                "EndpointPolicy needs the openai client: pip install 'iapo-bench[judge]'"
            ) from None
        if not model:
            raise ValueError("model must be a non-empty model name")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if tool_images not in ("user", "inline"):
            raise ValueError(f"tool_images must be 'user' or 'inline', got {tool_images!r}")
        self.requester = Requester(
            Endpoint(base_url=base_url, api_key_env=api_key_env),
            concurrency=concurrency,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            name=f"endpoint policy {name or model}",
        )
        """Owns the event loop, the clients, the concurrency limit and the retries."""
        self.model = self.model_name = model
        self.name = name or model
        self.base_url, self.api_key_env = base_url, api_key_env
        self.temperature, self.max_tokens = temperature, max_tokens
        self.top_p, self.seed = top_p, seed
        self.native_tools, self.tool_images = native_tools, tool_images
        self.last_usage: list[Usage] = []
        """One record per message of the last call, in order."""
        self.total_usage = UsageTotals()
        """Totals over every call since the policy was made."""
        self._lock = threading.Lock()

    @property
    def concurrency(self) -> int:
        """The most requests in flight at once (per event loop)."""
        return self.requester.concurrency

    @property
    def timeout(self) -> float:
        """Seconds one request may take."""
        return self.requester.timeout

    @property
    def retries(self) -> int:
        """How many times a failed request is tried again."""
        return self.requester.retries

    @property
    def backoff(self) -> float:
        """Seconds before the first retry."""
        return self.requester.backoff

    @property
    def settings(self) -> dict[str, Any]:
        """What changes what it writes (recorded with results): where, how it samples, tools.

        The retry settings are left out: they change whether a message fails, and a failed
        message is an infrastructure error, never a result.
        """
        return {
            "base_url": self.requester.endpoint.url if self.requester.endpoint else None,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "seeded": self.seed is not None,  # its value follows the harness's reseeds
            "native_tools": self.native_tools,
            "tool_images": self.tool_images,
        }

    # -- acting -------------------------------------------------------------------------------

    def act(
        self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]
    ) -> list[str | PolicyFailure]:
        """One message per observation, in order, asked for concurrently.

        It never raises for the endpoint's failures: a message that failed after every
        attempt is a :class:`~iapo_bench.core.PolicyFailure`.
        """
        _check_batch(observations, infos)
        if not observations:
            return self._finish([])
        return self._finish(self.requester.run(self._ask_all(observations, infos)))

    async def aact(
        self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]
    ) -> list[str | PolicyFailure]:
        """:meth:`act` on the caller's running event loop."""
        _check_batch(observations, infos)
        return self._finish(await self._ask_all(observations, infos) if observations else [])

    def reseed(self, seed: int) -> None:
        """Use ``seed`` from now on, if a seed was set (the harness reseeds each repeat)."""
        if self.seed is not None:
            self.seed = seed

    def _request(self, observation: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        """The request body for one observation; ``ValueError`` for a bookkeeping bug."""
        messages = request_messages(
            info["messages"],
            observation["images"],
            native_tools=self.native_tools,
            tool_images=self.tool_images,
        )
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.top_p is not None:
            request["top_p"] = self.top_p
        if self.seed is not None:
            request["seed"] = self.seed
        if self.native_tools and info.get("tools"):
            request["tools"] = list(info["tools"])
        return request

    async def _ask_all(
        self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]
    ) -> list[tuple[str | PolicyFailure, Usage]]:
        loop = asyncio.get_running_loop()
        # Requests are built (PNG-encoded) in worker threads, which Pillow runs in parallel,
        # and each is sent as soon as it is ready: encoding overlaps the replies awaited.
        requests = [
            loop.run_in_executor(None, self._request, obs, info)
            for obs, info in zip(observations, infos, strict=True)
        ]
        return list(await asyncio.gather(*(self._ask(r) for r in requests)))

    async def _ask(self, building: Awaitable[dict[str, Any]]) -> tuple[str | PolicyFailure, Usage]:
        """One message: the request, retried; never raises for the endpoint."""
        request = await building  # a bookkeeping bug raises here, out of act()
        requester = self.requester

        async def complete() -> tuple[str, Any]:
            response = await requester.client().chat.completions.create(**request)
            return action_from_reply(reply_message(response)), getattr(response, "usage", None)

        result = await requester.call(complete)
        if result.ok:
            assert result.value is not None
            text, usage = result.value
            return text, Usage(
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                latency_s=result.latency_s,
                attempts=result.attempts,
            )
        error = result.error or "no reply"
        return PolicyFailure(error=error), Usage(
            latency_s=result.latency_s, attempts=result.attempts, error=error
        )

    def _finish(
        self, results: Sequence[tuple[str | PolicyFailure, Usage]]
    ) -> list[str | PolicyFailure]:
        usages = [usage for _, usage in results]
        with self._lock:
            self.last_usage = usages
            self.total_usage = self.total_usage.add(usages)
        failed = [u for u in usages if u.error is not None]
        if failed:
            logger.warning(
                "endpoint policy %s: %d of %d messages failed; first error: %s",
                self.name,
                len(failed),
                len(usages),
                failed[0].error,
            )
        return [message for message, _ in results]

    # -- closing and pickling -----------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the client of the running event loop, if it has one."""
        await self.requester.aclose()

    def close(self) -> None:
        """Close the policy's own client and end its loop thread (a later call restarts it)."""
        self.requester.close()

    def __enter__(self) -> EndpointPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Callable[..., EndpointPolicy], tuple[Any, ...]]:
        # Pickled as its settings (for worker processes): loops and clients do not travel.
        return (
            EndpointPolicy,
            (
                self.model,
                self.base_url,
                self.api_key_env,
                self.concurrency,
                self.timeout,
                self.retries,
                self.backoff,
                self.temperature,
                self.max_tokens,
                self.top_p,
                self.seed,
                self.native_tools,
                self.tool_images,
                self.name,
            ),
        )

    def __repr__(self) -> str:
        return f"EndpointPolicy({self.model!r}, base_url={self.base_url!r})"


def _check_batch(observations: Sequence[Any], infos: Sequence[Any]) -> None:
    if len(observations) != len(infos):
        raise ValueError(f"{len(observations)} observations but {len(infos)} infos")
