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
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic

from iapo_bench.core import Answer, ParseError, ParseErrorKind, ToolCall
from iapo_bench.tools.base import Tool, format_validation_error

__all__ = ["format_answer", "format_tool_call", "parse_action"]

_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>|<answer>(.*?)</answer>", re.DOTALL)
_OPEN = re.compile(r"<tool_call>|<answer>")
_FENCE = re.compile(r"\A```(?:json)?\s*(.*?)\s*```\Z", re.DOTALL | re.IGNORECASE)


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
    if _OPEN.search(text) or "</answer>" in text or "</tool_call>" in text:
        raise ValueError(f"an answer cannot contain action tags: {text!r}")
    return f"<answer>{text}</answer>"


def _error(kind: ParseErrorKind, message: str) -> ParseError:
    return ParseError(error=kind, message=message)


def _tool_index(tools: Mapping[str, Tool] | Iterable[Tool]) -> Mapping[str, Tool]:
    if isinstance(tools, Mapping):
        return tools
    return {t.name: t for t in tools}


def _parse_call(body: str, tools: Mapping[str, Tool]) -> ToolCall | ParseError:
    body = body.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        return _error(ParseErrorKind.MALFORMED_JSON, f"the tool call is not valid JSON: {error}")
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
    if not isinstance(arguments, dict):
        return _error(ParseErrorKind.MALFORMED_JSON, '"arguments" must be a JSON object')
    tool = tools.get(name)
    if tool is None:
        available = ", ".join(sorted(tools)) or "none"
        return _error(
            ParseErrorKind.UNKNOWN_TOOL, f"there is no tool {name!r}; available: {available}"
        )
    try:
        validated = tool.validate(arguments)
    except pydantic.ValidationError as error:
        return _error(ParseErrorKind.INVALID_ARGUMENTS, f"{name}: {format_validation_error(error)}")
    return ToolCall(name=name, arguments=validated)


def parse_action(
    text: str, tools: Mapping[str, Tool] | Iterable[Tool]
) -> ToolCall | Answer | ParseError:
    """Read one action from a model's message; never raises.

    >>> parse_action("It is tallest. <answer> Peru </answer>", [])
    Answer(kind='answer', text='Peru')
    >>> parse_action("<answer>3</answer><answer>4</answer>", []).error.value
    'several_actions'
    """
    if not isinstance(text, str):
        return _error(ParseErrorKind.NO_ACTION, f"expected text, got {type(text).__name__}")
    index = _tool_index(tools)
    blocks: list[tuple[str, str]] = []
    end = 0
    for match in _BLOCK.finditer(text):
        if match.group(1) is not None:
            blocks.append(("call", match.group(1)))
        else:
            blocks.append(("answer", match.group(2)))
        end = match.end()
    # A call cut off before its closing tag, at the very end of the message.
    tail = text[end:]
    tail_open = tail.find("<tool_call>")
    if tail_open >= 0 and "<tool_call>" not in tail[tail_open + 1 :] and "<answer>" not in tail:
        candidate = tail[tail_open + len("<tool_call>") :]
        if _looks_like_one_json_object(candidate):
            blocks.append(("call", candidate))
    opened = len(_OPEN.findall(text))
    if len(blocks) > 1 or (blocks and opened > len(blocks)):
        return _error(
            ParseErrorKind.SEVERAL_ACTIONS,
            f"found {max(opened, len(blocks))} actions; write exactly one per message",
        )
    if not blocks:
        if opened:
            return _error(
                ParseErrorKind.NO_ACTION,
                "an action tag is opened but never closed; close it with </answer> or </tool_call>",
            )
        return _error(
            ParseErrorKind.NO_ACTION,
            "no <tool_call>...</tool_call> or <answer>...</answer> found",
        )
    kind, body = blocks[0]
    if kind == "answer":
        return Answer(text=body.strip())
    return _parse_call(body, index)


def _looks_like_one_json_object(candidate: str) -> bool:
    candidate = candidate.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    try:
        return isinstance(json.loads(candidate), dict)
    except (ValueError, RecursionError):
        return False
