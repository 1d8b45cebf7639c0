"""A policy behind any OpenAI-compatible chat endpoint: vLLM, SGLang, OpenAI, Ollama.

- :func:`image_data_url`: an image as a PNG ``data:`` URL, the form every such server reads.
- :func:`request_messages`: an episode's chat messages (``info["messages"]``) as the API
  wants them: images inlined as data URLs, tool-call arguments as JSON strings, tool images
  moved into a user message for servers that take only text in tool messages.
- :func:`action_from_reply`: the server's reply as our text action; a native tool call
  becomes the ``<tool_call>`` block that :func:`~iapo_bench.tools.parse_action` reads back.
- :class:`Usage`, :class:`UsageTotals`: tokens, latency, attempts and errors, per message
  and summed.
- :class:`EndpointPolicy`: the policy. Concurrent, with timeouts, retries with backoff, and
  accounting; it never raises for an unavailable server and never loses an episode.

The ``openai`` client (the ``[judge]`` extra) is imported lazily: this module imports
without it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import random
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from iapo_bench.aio import (
    LoopThread,
    backoff_delay,
    check_request_settings,
    openai_client,
    stop_loop,
)
from iapo_bench.core import ToolCall
from iapo_bench.tools.parser import format_tool_call

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

ToolImages = Literal["user", "inline"]
"""Where a tool message's images go: a following user message, or the tool message itself."""

Message = dict[str, Any]
_T = TypeVar("_T")

# The action block the env wrote into an assistant message's text, with its optional
# unclosed tail (the parser accepts a call cut off at the end of a message).
_CALL_BLOCK = re.compile(r"<tool_call>.*?(?:</tool_call>|\Z)", re.DOTALL)
_RETRYABLE_STATUS = (408, 409, 429)  # and every 5xx; as the openai client's own retries
_MAX_RETRY_AFTER_S = 60.0


# -- requests ---------------------------------------------------------------------------------


def image_data_url(image: np.ndarray) -> str:
    """An RGB ``uint8 (H, W, 3)`` image as a lossless PNG ``data:`` URL.

    >>> image_data_url(np.zeros((1, 1, 3), dtype=np.uint8))[:30]
    'data:image/png;base64,iVBORw0K'
    """
    buffer = io.BytesIO()
    # Level 1: a third faster than the default 6, for a few more kilobytes.
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB")
    pil.save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _image_part(image: np.ndarray) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": image_data_url(image)}}


def _text_of(parts: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(part["text"] for part in parts if part["type"] == "text")


def request_messages(
    messages: Sequence[Mapping[str, Any]],
    images: Sequence[np.ndarray],
    *,
    native_tools: bool = True,
    tool_images: ToolImages = "user",
) -> list[Message]:
    """Our chat messages as an OpenAI chat-completions request's ``messages``.

    The i-th ``{"type": "image"}`` placeholder, in message order, becomes ``images[i]`` as a
    PNG data URL. With ``native_tools``, an assistant message that made a call carries it in
    ``tool_calls`` (arguments as a JSON string, the call's text block taken out of its
    content, as the model sent it) and its result is a ``role: "tool"`` message whose images
    go, by ``tool_images``, into a following user message (``"user"``: many servers take
    only text in tool messages) or stay in the tool message (``"inline"``). Without
    ``native_tools`` the conversation is text, as the system prompt's Hermes block asks: an
    assistant message is its text and a tool result is a user message holding a
    ``<tool_response>`` block and its images.

    Raises ``ValueError`` when the placeholders and the images differ in number.

    >>> from iapo_bench.chat import build_messages
    >>> image = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> out = request_messages(build_messages("Be brief.", "How many?", []), [image])
    >>> [part["type"] for part in out[1]["content"]]
    ['image_url', 'text']
    """
    if tool_images not in ("user", "inline"):
        raise ValueError(f"tool_images must be 'user' or 'inline', got {tool_images!r}")
    remaining = list(images)

    def content(value: str | Sequence[Mapping[str, Any]]) -> str | list[dict[str, Any]]:
        if isinstance(value, str):
            return value
        parts = []
        for part in value:
            if part["type"] == "image":
                if not remaining:
                    raise ValueError("more image placeholders than images")
                parts.append(_image_part(remaining.pop(0)))
            else:
                parts.append(dict(part))
        return parts

    out: list[Message] = []
    for message in messages:
        role = message["role"]
        if role == "assistant":
            out.append(_assistant_message(message, native_tools))
        elif role == "tool":
            parts = content(message["content"])
            assert isinstance(parts, list), "a tool message's content is a list of parts"
            pictures = [p for p in parts if p["type"] == "image_url"]
            text = _text_of(parts)
            if not native_tools:
                wrapped = {"type": "text", "text": f"<tool_response>\n{text}\n</tool_response>"}
                out.append({"role": "user", "content": [wrapped, *pictures]})
                continue
            call_id = message.get("tool_call_id", "")
            if tool_images == "inline":
                out.append({"role": "tool", "tool_call_id": call_id, "content": parts})
                continue
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
            if pictures:
                plural = "s" if len(pictures) > 1 else ""
                caption = f"The image{plural} returned by {message.get('name', 'the tool')}:"
                out.append(
                    {"role": "user", "content": [{"type": "text", "text": caption}, *pictures]}
                )
        else:
            out.append({"role": role, "content": content(message["content"])})
    if remaining:
        raise ValueError(f"{len(remaining)} images left over after the last placeholder")
    return out


def _assistant_message(message: Mapping[str, Any], native_tools: bool) -> Message:
    text = message.get("content") or ""
    calls = message.get("tool_calls")
    if not native_tools or not calls:
        return {"role": "assistant", "content": text}
    # The env only fills tool_calls for a message holding exactly one valid call, so the
    # one block taken out is that call; what is left is the model's reasoning.
    reasoning = _CALL_BLOCK.sub("", text, count=1).strip()
    wire_calls = [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": json.dumps(call["function"]["arguments"], ensure_ascii=False),
            },
        }
        for call in calls
    ]
    return {"role": "assistant", "content": reasoning or None, "tool_calls": wire_calls}


# -- replies ----------------------------------------------------------------------------------


def action_from_reply(message: Mapping[str, Any]) -> str:
    r"""Our text action from a reply's ``message`` (OpenAI wire format, as a dict).

    Text passes through unchanged. A native tool call becomes the ``<tool_call>`` block of
    :func:`~iapo_bench.tools.format_tool_call`, after the text (the model's reasoning) if
    any. Every call is kept: a reply with several calls reads as several actions, which
    the env reports as the typed error ``several_actions``, as it does for a text reply
    with two blocks (one action a turn; keeping only the first would credit a hedge).
    Arguments that are not a JSON object are passed on as their string, which the parser
    reports as ``malformed_json``.

    >>> action_from_reply({"content": "<answer>7</answer>"})
    '<answer>7</answer>'
    >>> call = {"function": {"name": "zoom", "arguments": '{"box": [0, 0, 8, 8]}'}}
    >>> print(action_from_reply({"content": "Look closer.", "tool_calls": [call]}))
    Look closer.
    <tool_call>
    {"name": "zoom", "arguments": {"box": [0, 0, 8, 8]}}
    </tool_call>
    """
    content = message.get("content") or ""
    calls = [_call_text(call.get("function") or {}) for call in message.get("tool_calls") or []]
    if not calls:
        return content
    reasoning = content.strip()
    return "\n".join([reasoning, *calls] if reasoning else calls)


def _call_text(function: Mapping[str, Any]) -> str:
    name = function.get("name") or ""
    raw = function.get("arguments")
    arguments: Any = raw
    if isinstance(raw, str):
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except (ValueError, RecursionError):
            arguments = raw
    if isinstance(arguments, dict):
        return format_tool_call(ToolCall(name=name, arguments=arguments))
    # Kept as the string it was, for the parser to report; "<" escaped as format_tool_call
    # does, so that the string cannot open or close an action block.
    body = json.dumps({"name": name, "arguments": raw}, ensure_ascii=False)
    body = body.replace("<", "\\u003c")
    return f"<tool_call>\n{body}\n</tool_call>"


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
    (:func:`request_messages`), at most ``concurrency`` at a time, with the tool schemas
    passed natively (``native_tools``; the server must parse tool calls: vLLM's
    ``--enable-auto-tool-choice --tool-call-parser hermes``) or left to the system prompt's
    Hermes block, the model then writing text actions itself. (The system prompt keeps that
    block either way, so that every policy reads the same prompt; a server whose chat
    template also lists native tools shows them twice.) The reply becomes our text action
    (:func:`action_from_reply`).

    A request that fails (connection refused, no reply within ``timeout`` seconds, HTTP 5xx,
    408, 409, 429, a body that is no chat completion) is tried again up to ``retries`` times,
    after ``backoff * 2**k`` seconds with jitter (or the server's ``Retry-After``); other
    4xx replies are not retried. A message that still fails does not raise: its text is
    ``"(the model endpoint failed: ...)"``, with no action in it, which the env counts as a
    ``no_action`` parse error, so the episode goes on and is recorded. After each call
    :attr:`last_usage` holds one :class:`Usage` per message (its error included) and
    :attr:`total_usage` the running totals.

    ``act`` runs on the policy's own event loop in a daemon thread, so it works with or
    without a running loop in the caller; async code can ``await aact(...)`` instead. The
    API key is read from ``api_key_env`` when a client is made (``"EMPTY"`` when unset, as
    vLLM expects), never stored. Needs the ``[judge]`` extra (the ``openai`` client).

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
        check_request_settings(concurrency, timeout, retries, backoff)
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        if tool_images not in ("user", "inline"):
            raise ValueError(f"tool_images must be 'user' or 'inline', got {tool_images!r}")
        self.model = self.model_name = model
        self.name = name or model
        self.base_url, self.api_key_env = base_url, api_key_env
        self.concurrency = concurrency
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.temperature, self.max_tokens = temperature, max_tokens
        self.top_p, self.seed = top_p, seed
        self.native_tools, self.tool_images = native_tools, tool_images
        self.last_usage: list[Usage] = []
        """One record per message of the last call, in order."""
        self.total_usage = UsageTotals()
        """Totals over every call since the policy was made."""
        # An async client and a semaphore belong to the event loop they first ran on.
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._semaphores: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._runner: LoopThread | None = None
        self._lock = threading.Lock()
        self._random = random.Random()

    # -- acting -------------------------------------------------------------------------------

    def act(
        self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]
    ) -> list[str]:
        """One message per observation, in order, asked for concurrently.

        It never raises for the endpoint's failures: a failed message is a failure text.
        """
        _check_batch(observations, infos)
        if not observations:
            return self._finish([])
        return self._finish(self._own_loop().run(self._ask_all(observations, infos)))

    async def aact(
        self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]
    ) -> list[str]:
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
    ) -> list[tuple[str, Usage]]:
        client, semaphore, loop = self._client(), self._semaphore(), asyncio.get_running_loop()
        # Requests are built (PNG-encoded) in worker threads, which Pillow runs in parallel,
        # and each is sent as soon as it is ready: encoding overlaps the replies awaited.
        requests = [
            loop.run_in_executor(None, self._request, obs, info)
            for obs, info in zip(observations, infos, strict=True)
        ]
        return list(await asyncio.gather(*(self._ask(client, semaphore, r) for r in requests)))

    async def _ask(
        self, client: Any, semaphore: asyncio.Semaphore, building: Awaitable[dict[str, Any]]
    ) -> tuple[str, Usage]:
        """One message: the request, retried; never raises for the endpoint."""
        request = await building  # a bookkeeping bug raises here, out of act()
        async with semaphore:
            began = time.perf_counter()
            error, attempt = "", 0
            while attempt <= self.retries:
                attempt += 1
                try:
                    response = await asyncio.wait_for(
                        client.chat.completions.create(**request), self.timeout
                    )
                    text = action_from_reply(_reply_message(response))
                except Exception as failure:
                    error = self._describe(failure)
                    if not _retryable(failure):
                        if not _expected(failure):  # not the server's doing: show it
                            logger.warning("endpoint request failed unexpectedly", exc_info=True)
                        break
                    if attempt <= self.retries:
                        await asyncio.sleep(self._delay(attempt, failure))
                    continue
                usage = getattr(response, "usage", None)
                return text, Usage(
                    prompt_tokens=getattr(usage, "prompt_tokens", None),
                    completion_tokens=getattr(usage, "completion_tokens", None),
                    latency_s=time.perf_counter() - began,
                    attempts=attempt,
                )
            error = f"{error} (after {attempt} attempt{'s' if attempt > 1 else ''})"
            # No "<" in it, so nothing the server said can read as an action.
            text = f"(the model endpoint failed: {error.replace('<', '&lt;')})"
            return text, Usage(latency_s=time.perf_counter() - began, attempts=attempt, error=error)

    def _delay(self, attempt: int, failure: BaseException) -> float:
        delay = backoff_delay(self.backoff, attempt, self._random)
        headers = getattr(getattr(failure, "response", None), "headers", None)
        retry_after = headers.get("retry-after") if headers is not None else None
        if retry_after:  # seconds; an HTTP date is ignored
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), _MAX_RETRY_AFTER_S))
        return delay

    def _describe(self, failure: BaseException) -> str:
        import openai

        if isinstance(failure, (asyncio.TimeoutError, openai.APITimeoutError)):
            return f"no reply within {self.timeout:g} s"
        text = f"{type(failure).__name__}: {failure}" if str(failure) else type(failure).__name__
        cause = failure.__cause__  # the client's "Connection error." hides "Connection refused"
        if cause is not None:
            text = f"{text} ({type(cause).__name__}: {cause})"
        return text[:500]

    def _finish(self, results: Sequence[tuple[str, Usage]]) -> list[str]:
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
        return [text for text, _ in results]

    # -- event loops and clients --------------------------------------------------------------

    def _client(self) -> Any:
        return openai_client(self._clients, self.base_url, self.api_key_env, self.timeout)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in self._semaphores:
            self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        return self._semaphores[loop]

    def _own_loop(self) -> LoopThread:
        with self._lock:
            if self._runner is None:
                self._runner = LoopThread()
                # A policy dropped without close() still ends its thread.
                weakref.finalize(self, stop_loop, self._runner.loop)
            return self._runner

    async def aclose(self) -> None:
        """Close the client of the running event loop, if it has one."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def close(self) -> None:
        """Close the policy's own client and stop its event loop (a later call restarts it)."""
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(Exception):  # best effort: the loop is going
                runner.run(self.aclose())
            stop_loop(runner.loop)

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


def _reply_message(response: Any) -> dict[str, Any]:
    """The first choice's message as a dict; ``ValueError`` for a body that is none."""
    try:
        message = response.choices[0].message
        return message if isinstance(message, dict) else message.model_dump()
    except (AttributeError, IndexError, KeyError, TypeError) as error:
        raise ValueError(f"the reply is not a chat completion: {error}") from None


def _expected(failure: BaseException) -> bool:
    """Whether a failure is the server's or the network's, rather than a bug of ours."""
    import openai

    return isinstance(failure, (openai.APIError, asyncio.TimeoutError, ValueError))


def _retryable(failure: BaseException) -> bool:
    """Whether trying again may help: the server was unreachable, slow, busy or broken."""
    import openai

    if isinstance(failure, openai.APIStatusError):
        return failure.status_code in _RETRYABLE_STATUS or failure.status_code >= 500
    # Connection errors and timeouts; ValueError: a body that is no chat completion.
    return isinstance(
        failure,
        (
            openai.APIConnectionError,
            openai.APIResponseValidationError,
            asyncio.TimeoutError,
            ValueError,
        ),
    )
