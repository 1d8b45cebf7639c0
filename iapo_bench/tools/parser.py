r"""The action format and the one parser, used by the env, the harness and the trainer alike.

A model writes Qwen/Hermes-style actions, with free reasoning text around them::

    I should look at the bar for Peru first.
    <tool_call>
    {"name": "focus_on_x_values_with_highlight", "arguments": {"x_values": ["Peru"]}}
    </tool_call>

or ``<answer>42</answer>``. :func:`parse_action` returns a :class:`~iapo_bench.core.ToolCall`,
an :class:`~iapo_bench.core.Answer` or a typed :class:`~iapo_bench.core.ParseError`; it never
raises.

Leniency, decided by what small models actually emit and what it could wrongly credit:

Accepted
    - reasoning text before and after the action, and whitespace inside the tags;
    - a Markdown code fence (optionally ``json``) around the JSON inside ``<tool_call>``;
    - a missing ``</tool_call>`` at the very end of the message, when the rest of the
      message is exactly one JSON object (generation often stops on the closing tag);
    - ``"arguments"`` given as a JSON-encoded string (OpenAI's wire format) or left out
      for a tool whose arguments all have defaults; other top-level keys are ignored.

Refused, because each would credit garbage
    - an unclosed ``<answer>``: it would take everything after the tag as the answer;
    - several actions in one message, even identical ones, and stray opening tags besides
      one action: hedged answers (``<answer>3</answer><answer>4</answer>``) must not score;
    - JSON without ``<tool_call>`` tags, answers in other markup (``\\boxed{}``), Python
      literals instead of JSON, and tags in other letter cases.

How a message is read, in time linear in its length (a policy under training emits
degenerate text millions of times: runs of backticks, thousands of unclosed tags). A block is
an opening tag and the first closing tag of its kind after it, found left to right outside
earlier blocks (the leftmost-shortest matches of ``<tool_call>(.*?)</tool_call>`` and
``<answer>(.*?)</answer>``); tags never overlap, as each holds a single ``<``. Blocks count only
as "one" or "more than one", so a few passes of ``str.count`` and ``str.find`` decide:
    1. no opening tag: no action;
    2. several opening tags: several actions if any of them has a closing tag of its kind
       after it (the first opening tag of that kind then starts a block), else no action;
    3. one opening tag: its block, or, for a ``<tool_call>`` never closed, the rest of the
       message when that is exactly one JSON object (see above), else no action.
The JSON is read once; a code fence is taken off it by position (three backticks at each end,
an optional ``json`` in any case, whitespace), never by a backtracking pattern.

Every string in the result is valid Unicode: lone surrogates, in the text or from JSON
``\u`` escapes, become U+FFFD (:func:`~iapo_bench.core.clean_text`), so records encode as
UTF-8; NUL and other control characters are kept. Error
messages that quote the model's text are cut to :data:`MAX_ERROR_MESSAGE_LENGTH` characters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic

from iapo_bench.core import Answer, ParseError, ParseErrorKind, ToolCall, clean_text
from iapo_bench.tools.base import Tool, format_validation_error

__all__ = [
    "MAX_ERROR_MESSAGE_LENGTH",
    "format_answer",
    "format_tool_call",
    "parse_action",
    "truncate_text",
]

MAX_ERROR_MESSAGE_LENGTH = 2_000
"""The longest :class:`~iapo_bench.core.ParseError` message, marker included: messages quote
the model's text (an unknown tool name, a pydantic message naming an argument), which a
degenerate policy makes as long as it likes."""

_NAME_SHOWN = 100  # characters of an unknown tool name quoted back to the model

_OPEN_CALL, _CLOSE_CALL = "<tool_call>", "</tool_call>"
_OPEN_ANSWER, _CLOSE_ANSWER = "<answer>", "</answer>"
_CLOSING_TAG = {_OPEN_CALL: _CLOSE_CALL, _OPEN_ANSWER: _CLOSE_ANSWER}
_FENCE = "```"
# A fixed four-letter match at one position (the fence's language); IGNORECASE keeps the
# earlier definition's case folding exactly (it also took "jſon", with a long s).
_JSON_LANGUAGE = re.compile("json", re.IGNORECASE)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def format_tool_call(call: ToolCall) -> str:
    r"""The canonical text of a tool call, which :func:`parse_action` reads back.

    >>> format_tool_call(ToolCall(name="zoom", arguments={"box": [0, 0, 8, 8]}))
    '<tool_call>\n{"name": "zoom", "arguments": {"box": [0, 0, 8, 8]}}\n</tool_call>'
    """
    body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
    # "<" inside strings is escaped (valid JSON), so argument text holding action tags
    # cannot close or open a block.
    body = body.replace("<", "\\u003c")
    return f"<tool_call>\n{body}\n</tool_call>"


def format_answer(text: str) -> str:
    """The canonical text of an answer; raises ``ValueError`` if it holds action tags."""
    if any(tag in text for tag in (_OPEN_CALL, _CLOSE_CALL, _OPEN_ANSWER, _CLOSE_ANSWER)):
        raise ValueError(f"an answer cannot contain action tags: {text!r}")
    return f"<answer>{text}</answer>"


def truncate_text(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marker included, saying how much was cut.

    >>> truncate_text("abcdefghij" * 10, 40)
    'abcdefghijabcdefg… [83 more characters]'
    >>> truncate_text("short", 40)
    'short'
    """
    if len(text) <= limit:
        return text
    widest = f"… [{len(text)} more characters]"  # the marker can only be shorter than this
    if len(widest) >= limit:
        return text[:limit]
    keep = limit - len(widest)
    return text[:keep] + f"… [{len(text) - keep} more characters]"


def _error(kind: ParseErrorKind, message: str) -> ParseError:
    return ParseError(error=kind, message=truncate_text(message, MAX_ERROR_MESSAGE_LENGTH))


def _tool_index(tools: Mapping[str, Tool] | Iterable[Tool]) -> Mapping[str, Tool]:
    if isinstance(tools, Mapping):
        return tools
    return {t.name: t for t in tools}


def _unfence(body: str) -> str:
    """The inside of a Markdown code fence around ``body`` (already stripped), else ``body``.

    A fence is three backticks at each end, not overlapping; an optional ``json`` (any case)
    and whitespace after the opening one, and whitespace before the closing one, are dropped.
    """
    if len(body) < 2 * len(_FENCE) or not body.startswith(_FENCE) or not body.endswith(_FENCE):
        return body
    start = len(_FENCE)
    if _JSON_LANGUAGE.match(body, start):
        start += len("json")  # the closing fence cannot overlap it: "json" holds no backtick
    # str.strip and the earlier pattern's \s agree on every code point (Py_UNICODE_ISSPACE).
    return body[start : len(body) - len(_FENCE)].strip()


def _valid_strings(value: Any) -> Any:
    """Parsed JSON with every string (keys too) made valid Unicode; iterative, as JSON nests."""
    root = [value]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    while pending:
        container, key = pending.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = clean_text(item)
        elif isinstance(item, list):
            pending.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            fresh = {clean_text(k): v for k, v in item.items()}
            container[key] = fresh
            pending.extend((fresh, k) for k in fresh)
    return root[0]


def _load_json(body: str) -> Any:
    """``body`` (whitespace and a code fence around it dropped) as JSON; raises ValueError."""
    text = _unfence(body.strip())
    try:
        value = json.loads(text)
    except RecursionError as error:  # nesting deeper than the interpreter's stack
        raise ValueError(str(error)) from error
    if _SURROGATE_ESCAPE.search(text):  # "\ud800" escapes decode to lone surrogates
        value = _valid_strings(value)
    return value


def _call_from_payload(payload: Any, tools: Mapping[str, Tool]) -> ToolCall | ParseError:
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return _error(
            ParseErrorKind.MALFORMED_JSON,
            'a tool call must be a JSON object {"name": ..., "arguments": {...}}',
        )
    name: str = payload["name"]
    arguments: Any = payload.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as error:
            return _error(
                ParseErrorKind.MALFORMED_JSON, f"the arguments string is not valid JSON: {error}"
            )
        if _SURROGATE_ESCAPE.search(payload["arguments"]):
            arguments = _valid_strings(arguments)
    if not isinstance(arguments, dict):
        return _error(ParseErrorKind.MALFORMED_JSON, '"arguments" must be a JSON object')
    tool = tools.get(name)
    if tool is None:
        shown = name if len(name) <= _NAME_SHOWN else name[:_NAME_SHOWN] + "…"
        available = ", ".join(sorted(tools)) or "none"
        return _error(
            ParseErrorKind.UNKNOWN_TOOL, f"there is no tool {shown!r}; available: {available}"
        )
    try:
        validated = tool.validate(arguments)
    except pydantic.ValidationError as error:
        return _error(ParseErrorKind.INVALID_ARGUMENTS, f"{name}: {format_validation_error(error)}")
    return ToolCall(name=name, arguments=validated)


def _parse_call(body: str, tools: Mapping[str, Tool]) -> ToolCall | ParseError:
    try:
        payload = _load_json(body)
    except ValueError as error:
        return _error(ParseErrorKind.MALFORMED_JSON, f"the tool call is not valid JSON: {error}")
    return _call_from_payload(payload, tools)


def parse_action(
    text: str, tools: Mapping[str, Tool] | Iterable[Tool]
) -> ToolCall | Answer | ParseError:
    """Read one action from a model's message; never raises, linear time in ``len(text)``.

    >>> parse_action("It is tallest. <answer> Peru </answer>", [])
    Answer(kind='answer', text='Peru')
    >>> parse_action("<answer>3</answer><answer>4</answer>", []).error.value
    'several_actions'
    """
    if not isinstance(text, str):
        return _error(ParseErrorKind.NO_ACTION, f"expected text, got {type(text).__name__}")
    text = clean_text(text)
    calls = text.count(_OPEN_CALL)  # tags never overlap: counts are exact
    opened = calls + text.count(_OPEN_ANSWER)
    if opened == 0:
        return _error(
            ParseErrorKind.NO_ACTION,
            "no <tool_call>...</tool_call> or <answer>...</answer> found",
        )
    if opened > 1:
        # With a block among them, they are several actions; the first opening tag of a kind
        # starts a block whenever any opening tag of that kind is closed after it.
        if any(_closed_after_first(text, opening) for opening in _CLOSING_TAG):
            return _error(
                ParseErrorKind.SEVERAL_ACTIONS,
                f"found {opened} actions; write exactly one per message",
            )
        return _never_closed()
    opening = _OPEN_CALL if calls else _OPEN_ANSWER
    start = text.find(opening) + len(opening)
    end = text.find(_CLOSING_TAG[opening], start)
    index = _tool_index(tools)
    if end >= 0:
        if opening == _OPEN_ANSWER:
            return Answer(text=text[start:end].strip())
        return _parse_call(text[start:end], index)
    if opening == _OPEN_CALL:
        # A call cut off before its closing tag, at the very end of the message: read when
        # the rest of the message is exactly one JSON object.
        try:
            payload = _load_json(text[start:])
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return _call_from_payload(payload, index)
    return _never_closed()


def _closed_after_first(text: str, opening: str) -> bool:
    """Whether the first ``opening`` tag of ``text`` has its closing tag somewhere after it."""
    first = text.find(opening)
    return first >= 0 and text.find(_CLOSING_TAG[opening], first + len(opening)) >= 0


def _never_closed() -> ParseError:
    return _error(
        ParseErrorKind.NO_ACTION,
        "an action tag is opened but never closed; close it with </answer> or </tool_call>",
    )
