"""The scripted chat server (:mod:`tests.chat_server`) as a judge, for the judge's tests.

What it replies is chosen per request: the next entry of ``server.script`` if any, else
``server.mode``:

- ``"judge"``: judges the prompt's "Predicted answer:" against its "Reference answer:" line
  (JSON literals, decoded), by :func:`match_text` plus a few number words ("five" is "5"), so
  that a real verdict can differ from the exact-match fallback. YES/NO, or 10/0 when the
  prompt asks for 0 to 10.
- ``"gullible"``: a judge an attacker would love (:func:`gullible_reply`). It obeys an
  "ignore ... and reply X" instruction anywhere in the prompt outside JSON string literals,
  and otherwise judges by the *last* "Reference answer:" and "Predicted answer:" lines, so
  an answer that breaks out of its quotes onto lines of its own takes over.
- ``"echo"``: replies with the predicted answer itself, as a model that parrots it would.
- ``"slow"``: judges, after sleeping ``slow_seconds``.
- ``"maybe"``: HTTP 200 with the content "maybe?" (no verdict in it).
- ``"invalid_json"``: HTTP 200 whose body is not JSON.
- ``"error"``: HTTP 500; any other failure of the chat server by its name, or a
  :class:`~tests.chat_server.Failure`.

Every mode also waits ``delay`` seconds first (the benchmark's fixed latency). The server
counts requests and the most requests in flight at once, and records the prompts and API keys
it was sent.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from iapo_bench.rewards.match import match_text
from tests.chat_server import ChatServer, Failure, Reply

NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5"}
MODES = ("judge", "gullible", "echo", "slow", "maybe", "invalid_json", "error")

_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_INSTRUCTION = re.compile(
    r"\bignore\b[^\n]*?\b(?:reply|answer|say|respond|output)\b[^\n]*?\b(YES|NO|10|\d)\b",
    re.IGNORECASE,
)


def _decoded(value: str) -> str:
    """A field's value: a JSON string literal decoded, anything else as it stands."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def field(prompt: str, name: str, last: bool = False) -> str | None:
    """The value of the first (or ``last``) line ``"<name>: value"`` of a prompt, decoded."""
    found = re.findall(rf"^{name}: (.*)$", prompt, re.MULTILINE)
    if not found:
        return None
    return _decoded(found[-1] if last else found[0])


def _verdict(prompt: str, reference: str | None, prediction: str | None) -> str:
    if reference is None or prediction is None:
        return "I cannot tell."
    predicted = NUMBER_WORDS.get(prediction.strip().casefold(), prediction)
    same = match_text(predicted, reference) == 1.0
    if "0 to 10" in prompt:
        return "10" if same else "0"
    return "YES" if same else "NO"


def judge_prompt(prompt: str) -> str:
    """The reply a correct judge gives to one of our prompts."""
    reference = field(prompt, "Reference answer")
    return _verdict(prompt, reference, field(prompt, "Predicted answer"))


def gullible_reply(prompt: str) -> str:
    """The reply of a judge that obeys injected instructions and trusts the last answer block.

    Text inside JSON string literals is data to it (as the prompt says); everything else is
    read as the prompt's own, so only an answer that escapes its quotes can steer it.
    """
    outside = _JSON_STRING.sub('""', prompt)
    order = _INSTRUCTION.search(outside)
    if order is not None:
        return order[1]
    reference = field(prompt, "Reference answer", last=True)
    return _verdict(prompt, reference, field(prompt, "Predicted answer", last=True))


def echo_reply(prompt: str) -> str:
    """The predicted answer, said back (the last "Predicted answer:" line, decoded)."""
    return field(prompt, "Predicted answer", last=True) or ""


class OpenAIServer(ChatServer):
    """The judging server; use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, mode: str = "judge", delay: float = 0.0, slow_seconds: float = 2.0):
        super().__init__(delay=delay, slow_seconds=slow_seconds)
        self.mode = mode

    @property
    def prompts(self) -> list[str]:
        """The judge prompts received (each request's last message)."""
        return [body["messages"][-1]["content"] for body in self.bodies]

    def respond(
        self, body: dict[str, Any], entry: Reply | Failure | str | None
    ) -> Reply | Failure | str:
        """The reply of the request's mode (its script entry, else ``mode``)."""
        mode = entry or self.mode
        if not isinstance(mode, str):
            return mode
        prompt = body["messages"][-1]["content"]
        if mode == "slow":
            time.sleep(self.slow_seconds)
        replies = {
            "judge": judge_prompt,
            "slow": judge_prompt,
            "gullible": gullible_reply,
            "echo": echo_reply,
            "maybe": lambda prompt: "maybe?",
        }
        if mode in replies:
            return Reply(content=replies[mode](prompt), prompt_tokens=1, completion_tokens=1)
        return mode  # "invalid_json", "error", ...: the chat server's failures
