"""A scripted OpenAI-compatible chat server on 127.0.0.1, for the judge's tests and benchmark.

``POST /v1/chat/completions`` answers with a real ``chat.completion`` JSON. What it replies is
chosen per request: the next entry of ``server.script`` if any, else ``server.mode``:

- ``"judge"``: judges the prompt's "Predicted answer:" against its "Reference answer:" line,
  by :func:`match_text` plus a few number words ("five" is "5"), so that a real verdict can
  differ from the exact-match fallback. YES/NO, or 10/0 when the prompt asks for 0 to 10.
- ``"slow"``: judges, after sleeping ``slow_seconds``.
- ``"maybe"``: HTTP 200 with the content "maybe?" (no verdict in it).
- ``"invalid_json"``: HTTP 200 whose body is not JSON.
- ``"error"``: HTTP 500.

Every mode also waits ``delay`` seconds first (the benchmark's fixed latency). The server
counts requests and the most requests in flight at once, and records the prompts and API keys
it was sent.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from iapo_bench.rewards.match import match_text

NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}
MODES = ("judge", "slow", "maybe", "invalid_json", "error")


def judge_prompt(prompt: str) -> str:
    """The reply a correct judge gives to one of our prompts."""
    reference = re.search(r"^Reference answer: (.*)$", prompt, re.MULTILINE)
    prediction = re.search(r"^Predicted answer: (.*)$", prompt, re.MULTILINE)
    if reference is None or prediction is None:
        return "I cannot tell."
    predicted = NUMBER_WORDS.get(prediction[1].strip().casefold(), prediction[1])
    same = match_text(predicted, reference[1]) == 1.0
    if "0 to 10" in prompt:
        return "10" if same else "0"
    return "YES" if same else "NO"


class OpenAIServer:
    """The scripted server; use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, mode: str = "judge", delay: float = 0.0, slow_seconds: float = 2.0):
        self.mode = mode
        self.delay = delay
        self.slow_seconds = slow_seconds
        self.script: collections.deque[str] = collections.deque()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.prompts: list[str] = []
        self.api_keys: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        serve = self._server.serve_forever
        self._thread = threading.Thread(target=serve, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> OpenAIServer:
        """Serve in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port (a later request is refused)."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counts(self) -> None:
        """Zero the counters."""
        with self._lock:
            self.requests = self.max_in_flight = 0
            self.prompts.clear()
            self.api_keys.clear()

    def _begin(self, prompt: str, authorization: str) -> str:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.prompts.append(prompt)
            self.api_keys.append(authorization.removeprefix("Bearer "))
            return self.script.popleft() if self.script else self.mode

    def _end(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _completion(model: str, content: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    ).encode()


def _handler(server: OpenAIServer) -> type[BaseHTTPRequestHandler]:
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
            prompt = body["messages"][-1]["content"]
            mode = server._begin(prompt, self.headers.get("Authorization", ""))
            try:
                time.sleep(server.delay)
                if mode == "slow":
                    time.sleep(server.slow_seconds)
                if mode in ("judge", "slow"):
                    self._send(200, _completion(body["model"], judge_prompt(prompt)))
                elif mode == "maybe":
                    self._send(200, _completion(body["model"], "maybe?"))
                elif mode == "invalid_json":
                    self._send(200, b'{"choices": [oops')
                else:
                    self._send(500, b'{"error": {"message": "scripted failure"}}')
            except OSError:  # the client gave up (a timeout) and closed the connection
                pass
            finally:
                server._end()

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
