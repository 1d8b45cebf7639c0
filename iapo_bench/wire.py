"""The OpenAI chat-completions wire format: our chat messages out, a server's reply back.

Pure conversion, no I/O, shared by every client of an OpenAI-compatible server (vLLM,
SGLang, OpenAI, Ollama): :class:`~iapo_bench.baselines.endpoint.EndpointPolicy` sends what
it makes, and the verifiers and TRL adapters read the models' replies with it. It sits low,
beside :mod:`iapo_bench.chat`: it uses the core types, the chat messages, the tool-call text
of :mod:`iapo_bench.tools.parser` and :class:`~iapo_bench.aio.BadReply`, and nothing above
(``iapo_bench.baselines.wire`` re-exports it).

- :func:`image_data_url`: an image as a PNG ``data:`` URL, the form every such server reads.
- :func:`request_messages`: an episode's chat messages (``info["messages"]``) as the API
  wants them: images inlined as data URLs, tool-call arguments as JSON strings, tool images
  moved into a user message for servers that take only text in tool messages.
- :func:`reply_message`: the first choice's message of a response (a body that is none is a
  retryable :class:`~iapo_bench.aio.BadReply`).
- :func:`action_from_reply`: the server's reply as our text action; a native tool call
  becomes the ``<tool_call>`` block that :func:`~iapo_bench.tools.parse_action` reads back.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from PIL import Image

from iapo_bench.aio import BadReply
from iapo_bench.chat import pair_images
from iapo_bench.core import ToolCall
from iapo_bench.tools.parser import format_tool_call

__all__ = [
    "Message",
    "ToolImages",
    "action_from_reply",
    "image_data_url",
    "reply_message",
    "request_messages",
]

ToolImages = Literal["user", "inline"]
"""Where a tool message's images go: a following user message, or the tool message itself."""

Message = dict[str, Any]
"""One chat message, as a JSON-ready dict."""

# The action block the env wrote into an assistant message's text, with its optional
# unclosed tail (the parser accepts a call cut off at the end of a message).
_CALL_BLOCK = re.compile(r"<tool_call>.*?(?:</tool_call>|\Z)", re.DOTALL)


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
    PNG data URL (:func:`iapo_bench.chat.pair_images`). With ``native_tools``, an assistant
    message that made a call carries it in ``tool_calls`` (arguments as a JSON string, the
    call's text block taken out of its content, as the model sent it) and its result is a
    ``role: "tool"`` message whose images go, by ``tool_images``, into a following user
    message (``"user"``: many servers take only text in tool messages) or stay in the tool
    message (``"inline"``). Without ``native_tools`` the conversation is text, as the system
    prompt's Hermes block asks: an assistant message is its text and a tool result is a
    user message holding a ``<tool_response>`` block and its images.

    Raises ``ValueError`` when the placeholders and the images differ in number.

    >>> from iapo_bench.chat import build_messages
    >>> image = np.zeros((2, 2, 3), dtype=np.uint8)
    >>> out = request_messages(build_messages("Be brief.", "How many?", []), [image])
    >>> [part["type"] for part in out[1]["content"]]
    ['image_url', 'text']
    """
    if tool_images not in ("user", "inline"):
        raise ValueError(f"tool_images must be 'user' or 'inline', got {tool_images!r}")
    out: list[Message] = []
    for message in pair_images(messages, images, _image_part):
        role = message["role"]
        if role == "assistant":
            out.append(_assistant_message(message, native_tools))
        elif role == "tool":
            parts = message["content"]
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
            out.append({"role": role, "content": message["content"]})
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


def reply_message(response: Any) -> dict[str, Any]:
    """The first choice's message of a chat completion, as a dict.

    Raises :class:`~iapo_bench.aio.BadReply` (retryable) for a body that is none.

    >>> reply_message({"choices": []})
    Traceback (most recent call last):
    ...
    iapo_bench.aio.BadReply: the reply is not a chat completion: ...
    """
    try:
        message = response.choices[0].message
        return message if isinstance(message, dict) else message.model_dump()
    except (AttributeError, IndexError, KeyError, TypeError) as error:
        raise BadReply(f"the reply is not a chat completion: {error}") from None


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
