"""The scripted chat server (:mod:`tests.chat_server`) as a judge, for the judge's tests.

What it replies is chosen per request: the next entry of ``server.script`` if any, else
``server.mode``:

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

import re
import time
from typing import Any

from iapo_bench.rewards.match import match_text
from tests.chat_server import ChatServer, Reply

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


class OpenAIServer(ChatServer):
    """The judging server; use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, mode: str = "judge", delay: float = 0.0, slow_seconds: float = 2.0):
        super().__init__(delay=delay, slow_seconds=slow_seconds)
        self.mode = mode

    @property
    def prompts(self) -> list[str]:
        """The judge prompts received (each request's last message)."""
        return [body["messages"][-1]["content"] for body in self.bodies]

    def respond(self, body: dict[str, Any], entry: Reply | str | None) -> Reply | str:
        """The reply of the request's mode (its script entry, else ``mode``)."""
        mode = entry or self.mode
        prompt = body["messages"][-1]["content"]
        if mode == "slow":
            time.sleep(self.slow_seconds)
        if mode in ("judge", "slow"):
            return Reply(content=judge_prompt(prompt), prompt_tokens=1, completion_tokens=1)
        if mode == "maybe":
            return Reply(content="maybe?", prompt_tokens=1, completion_tokens=1)
        return mode  # "invalid_json" or "error": the chat server's failures
