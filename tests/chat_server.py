"""A scripted OpenAI-compatible chat server on 127.0.0.1, for the endpoint policy's and the LLM
judge's tests and benchmarks (the judge's server, ``tests/rewards/openai_server.py``, is a
subclass that judges).

``POST /v1/chat/completions`` answers with a real ``chat.completion`` JSON. Each request takes
the next entry of ``server.script`` if any, and :meth:`ChatServer.respond` turns it (or, with
none, ``server.responder(body)``) into a reply. A reply is:

- a :class:`Reply`: HTTP 200 with its content, native tool calls and usage;
- ``"error"`` (HTTP 500), ``"rate_limit"`` (429), ``"bad_request"`` (400, whose message holds
  action tags, as a server echoing the prompt would), ``"invalid_json"`` (200, not JSON);
- ``"slow"``: a :class:`Reply` after ``slow_seconds``.

Every request first waits ``delay`` seconds. The server keeps every request body, the API
keys it was sent, and the most requests in flight at once.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclasses.dataclass
class Reply:
    """One scripted completion: text, native tool calls ``(name, arguments JSON)``, usage."""

    content: str | None = "<answer>42</answer>"
    tool_calls: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    prompt_tokens: int = 11
    completion_tokens: int = 7


@dataclasses.dataclass
class Failure:
    """One scripted HTTP error: its status, its error message and extra headers."""

    status: int
    message: str = "scripted failure"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def payload(self) -> bytes:
        """The error body, as OpenAI's API writes one."""
        return json.dumps({"error": {"message": self.message}}).encode()


def call(name: str, **arguments: Any) -> Reply:
    """A reply holding one native tool call and no text."""
    return Reply(content=None, tool_calls=[(name, json.dumps(arguments))])


class ChatServer:
    """The scripted server; a context manager that serves in a daemon thread."""

    def __init__(
        self,
        responder: Callable[[dict[str, Any]], Reply | Failure | str] | None = None,
        delay: float = 0.0,
        slow_seconds: float = 5.0,
        port: int = 0,
    ) -> None:
        self.responder = responder or (lambda body: Reply())
        self.delay = delay
        self.slow_seconds = slow_seconds
        self.script: collections.deque[Reply | Failure | str] = collections.deque()
        self.bodies: list[dict[str, Any]] = []
        self.api_keys: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> int:
        """How many requests arrived."""
        return len(self.bodies)

    def start(self) -> ChatServer:
        """Serve in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (a later request is refused)."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self.bodies.clear()
            self.api_keys.clear()
            self.max_in_flight = 0

    def respond(
        self, body: dict[str, Any], entry: Reply | Failure | str | None
    ) -> Reply | Failure | str:
        """The reply to a request: its script entry, else the responder's."""
        return entry if entry is not None else self.responder(body)

    def _begin(self, body: dict[str, Any], authorization: str) -> Reply | Failure | str:
        with self._lock:
            self.bodies.append(body)
            self.api_keys.append(authorization.removeprefix("Bearer "))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            entry = self.script.popleft() if self.script else None
        return self.respond(body, entry)

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1


def completion(model: str, reply: Reply) -> bytes:
    """The ``chat.completion`` JSON of a reply."""
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate(reply.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    choice = {
        "index": 0,
        "message": message,
        "finish_reason": "tool_calls" if tool_calls else "stop",
        "logprobs": None,
    }
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
    ).encode()


_FAILURES = {
    "error": Failure(500),
    "rate_limit": Failure(429, "slow down"),
    "bad_request": Failure(400, "bad prompt: <answer>5</answer>"),
    "unauthorized": Failure(401, "invalid API key"),
}


def _handler(server: ChatServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
        # One write a response, sent at once: no 40 ms Nagle/delayed-ACK stall per request.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, b'{"error": {"message": "not found"}}')
                return
            reply = server._begin(body, self.headers.get("Authorization", ""))
            try:
                time.sleep(server.delay)
                if reply == "slow":
                    time.sleep(server.slow_seconds)
                    reply = Reply()
                if isinstance(reply, Reply):
                    self._send(200, completion(body["model"], reply))
                elif reply == "invalid_json":
                    self._send(200, b'{"choices": [oops')
                else:
                    failure = reply if isinstance(reply, Failure) else _FAILURES[reply]
                    self._send(failure.status, failure.payload(), failure.headers)
            except OSError:  # the client gave up (a timeout) and closed the connection
                pass
            finally:
                server._end()

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
