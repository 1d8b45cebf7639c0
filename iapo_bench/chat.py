"""Chat messages: the one place an episode becomes OpenAI-format messages and a transcript.

Pure data, beside :mod:`iapo_bench.core`, so that models can render what envs build without
importing envs.

- :func:`system_prompt`: instructions plus the tool schemas in a Hermes ``<tools>`` block
  (style ``"full"``), or a few lines with each tool's signature (``"compact"``: for models
  trained from scratch, which a 400-token preamble keeps from finding the image);
  :func:`split_system_prompt` gives its pieces back.
- :func:`build_messages`: system, user (image + question), then per turn the assistant's
  message and a ``role: "tool"`` message (text part, then image parts) or, after an
  unreadable message, a ``role: "user"`` message saying what was wrong.
- :func:`render_transcript`: the same messages as one text, ChatML-style, with ``<image>``
  where each image stands: the ``"text"`` of an observation.

Image parts are ``{"type": "image"}`` placeholders, matched in order with the observation's
``"images"`` (TRL's dataset convention); :func:`pair_images` pairs them, the one place that
does, and :func:`attach_images` fills them in for processors that want the image inline.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from iapo_bench.core import ParseError, ToolCall, Turn

__all__ = [
    "IMAGE_PLACEHOLDER",
    "PROMPT_STYLES",
    "PromptStyle",
    "attach_images",
    "build_messages",
    "first_messages",
    "pair_images",
    "parse_error_feedback",
    "render_transcript",
    "split_system_prompt",
    "system_prompt",
    "tool_result_text",
]

IMAGE_PLACEHOLDER = "<image>"
"""Where an image stands in a transcript."""

Message = dict[str, Any]

_INSTRUCTIONS = """\
You answer questions about images. You may call tools to look closer before answering.

# Tools

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

To call a function, reply with a JSON object with its name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>
Image coordinates are pixels of the first image you were shown, as [x0, y0, x1, y1].

When you know the answer, reply with it within <answer></answer> XML tags, e.g. \
<answer>42</answer>. Give a number without units, or a label exactly as written in the image.

Each reply holds exactly one action: one <tool_call> or one <answer>. You may think before it."""


_COMPACT_INSTRUCTIONS = """\
Call a tool to look closer, then answer. Tools:
{tools}
Call: <tool_call>{{"name": ..., "arguments": {{...}}}}</tool_call> Answer: <answer>...</answer>"""

PromptStyle = Literal["full", "compact"]
"""How a system prompt lists the tools: ``"full"`` (instructions and JSON schemas, what
instruction-tuned models expect) or ``"compact"`` (three lines and each tool's signature)."""
PROMPT_STYLES: dict[PromptStyle, str] = {"full": _INSTRUCTIONS, "compact": _COMPACT_INSTRUCTIONS}
"""Each style's template, with ``{tools}`` where the tools go, on lines of their own (a
tokenizer may still merge a newline into the block's last token: blocks give a token to the
piece it starts in)."""


def _signature(schema: Mapping[str, Any]) -> str:
    """A tool as ``name(param, ...)``, from an OpenAI-format schema (or its function part)."""
    function = schema.get("function", schema)
    parameters = function.get("parameters", {}).get("properties", {})
    return f"{function.get('name', '?')}({', '.join(parameters)})"


def system_prompt(tool_schemas: Sequence[Mapping[str, Any]], style: PromptStyle = "full") -> str:
    """The system message in ``style``: instructions and the tools.

    ``"full"``: one JSON schema a line in a ``<tools>`` block; ``"compact"``: signatures.

    >>> print(system_prompt([{"name": "zoom", "parameters": {"properties": {"box": {}}}}],
    ...                     "compact").splitlines()[1])
    zoom(box)
    """
    if style == "compact":
        tools = "; ".join(_signature(schema) for schema in tool_schemas)
    elif style == "full":
        tools = "\n".join(json.dumps(schema, ensure_ascii=False) for schema in tool_schemas)
    else:
        raise ValueError(f"prompt style must be one of {sorted(PROMPT_STYLES)}, got {style!r}")
    return PROMPT_STYLES[style].format(tools=tools)


def split_system_prompt(system: str) -> tuple[str, str, str] | None:
    """A :func:`system_prompt` text's pieces: instructions before the tools, the tools, after.

    The three pieces join to ``system``; ``None`` when ``system`` was not made by
    :func:`system_prompt` (in either style). Attribution uses it to tell the tool definitions
    from the instructions by how the message was built, not by searching the text.

    >>> before, tools, after = split_system_prompt(system_prompt([{"name": "zoom"}]))
    >>> tools
    '{"name": "zoom"}'
    """
    for template in PROMPT_STYLES.values():
        before, _, after = template.format(tools="\x00").partition("\x00")
        if (
            len(system) >= len(before) + len(after)
            and system.startswith(before)
            and system.endswith(after)
        ):
            return before, system[len(before) : len(system) - len(after)], after
    return None


def parse_error_feedback(error: ParseError) -> str:
    """What the env tells the agent after a message it could not read as one action."""
    return (
        f"Your last message was not a valid action ({error.error.value}): {error.message}\n"
        "Reply with exactly one <tool_call>...</tool_call> or <answer>...</answer>."
    )


def tool_result_text(turn: Turn) -> str:
    """The text part of a tool message: the tool's text, or its error."""
    assert turn.result is not None
    if turn.result.error is not None:
        return f"Error: {turn.result.error}"
    return turn.result.text


def first_messages(
    question: str, tool_schemas: Sequence[Mapping[str, Any]], style: PromptStyle = "full"
) -> list[Message]:
    """The messages of an episode's first prompt: the system prompt of these tools, the question.

    What the env shows at reset (its ``info["messages"]``; ``style`` is the task family's
    ``prompt_style``), built here once for everything that rebuilds it from a task (the
    attribution reward, the TRL and verifiers adapters).
    """
    return build_messages(system_prompt(tool_schemas, style), question, [])


def build_messages(system: str, question: str, turns: Sequence[Turn]) -> list[Message]:
    """The episode so far as OpenAI-format chat messages (fresh objects on every call).

    >>> from iapo_bench.core import Answer
    >>> msgs = build_messages("sys", "How many?", [Turn(text="<answer>3</answer>",
    ...                                                   action=Answer(text="3"))])
    >>> [m["role"] for m in msgs]
    ['system', 'user', 'assistant']
    """
    messages: list[Message] = [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": question}],
        },
    ]
    for index, turn in enumerate(turns):
        assistant: Message = {"role": "assistant", "content": turn.text}
        if isinstance(turn.action, ToolCall):
            call_id = f"call_{index}"
            assistant["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    # A dict, as transformers' chat templates and TRL expect; the endpoint
                    # policy serialises it to the string the OpenAI API wants.
                    "function": {
                        "name": turn.action.name,
                        "arguments": copy.deepcopy(turn.action.arguments),
                    },
                }
            ]
            messages.append(assistant)
            content: list[dict[str, Any]] = [{"type": "text", "text": tool_result_text(turn)}]
            if turn.result is not None and turn.result.image is not None:
                content.append({"type": "image"})
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "name": turn.action.name,
                    "content": content,
                }
            )
        elif isinstance(turn.action, ParseError):
            messages.append(assistant)
            messages.append({"role": "user", "content": parse_error_feedback(turn.action)})
        else:
            messages.append(assistant)
    return messages


def _content_text(content: str | Sequence[Mapping[str, Any]]) -> str:
    if isinstance(content, str):
        return _escape(content)
    parts = []
    for part in content:
        parts.append(IMAGE_PLACEHOLDER if part["type"] == "image" else _escape(part["text"]))
    return "\n".join(parts)


def _escape(text: str) -> str:
    # A literal "<image>" in text would add a mark with no image behind it.
    return text.replace(IMAGE_PLACEHOLDER, "< image>")


def render_transcript(messages: Sequence[Mapping[str, Any]]) -> str:
    """Messages as one ChatML-style text with ``<image>`` marks, in image order.

    Tool messages are rendered as ``<tool_response>`` blocks, as Qwen2.5's template does. A
    literal ``<image>`` inside text is written ``< image>``, so the marks count the images.
    """
    blocks = []
    for message in messages:
        text = _content_text(message["content"])
        if message["role"] == "tool":
            text = f"<tool_response>\n{text}\n</tool_response>"
        blocks.append(f"<|im_start|>{message['role']}\n{text}<|im_end|>")
    return "\n".join(blocks)


def pair_images(
    messages: Sequence[Mapping[str, Any]],
    images: Sequence[Any],
    make_part: Callable[[Any], dict[str, Any]],
) -> list[Message]:
    """A copy of ``messages`` whose k-th image placeholder is ``make_part(images[k])``.

    The one place ``{"type": "image"}`` placeholders meet the observation's images: in
    message order, then part order (TRL's convention, the processors'). Every other
    part and field is copied (nothing of ``messages`` is shared with the copy, images aside).
    Raises ``ValueError`` when the counts differ: that is the bookkeeping bug to catch early.

    >>> pair_images([{"role": "user", "content": [{"type": "image"}]}], ["a"],
    ...             lambda image: {"type": "image", "image": image.upper()})
    [{'role': 'user', 'content': [{'type': 'image', 'image': 'A'}]}]
    """
    paired = 0
    out: list[Message] = []
    for message in messages:
        copied = {}
        for key, value in message.items():
            if key != "content" or isinstance(value, str) or value is None:
                copied[key] = copy.deepcopy(value)
                continue
            parts = []
            for part in value:
                if part.get("type") != "image":
                    parts.append(copy.deepcopy(dict(part)))
                    continue
                if paired == len(images):
                    raise ValueError("more image placeholders than images")
                parts.append(make_part(images[paired]))
                paired += 1
            copied[key] = parts
        out.append(copied)
    if paired < len(images):
        raise ValueError(f"{len(images) - paired} images left over, with no placeholder for them")
    return out


def attach_images(messages: Sequence[Mapping[str, Any]], images: Sequence[Any]) -> list[Message]:
    """A copy of ``messages`` whose image placeholders carry ``"image"``, in order.

    Raises ``ValueError`` when the counts differ (see :func:`pair_images`).
    """
    return pair_images(messages, images, lambda image: {"type": "image", "image": image})
