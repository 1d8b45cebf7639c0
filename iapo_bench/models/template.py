"""The chat template of the tiny VLM (and of any ChatML model we train): DESIGN.md's messages.

ChatML turns as Qwen2.5-VL writes them: images as ``<|vision_start|><|image_pad|><|vision_end|>``
(the processor expands the pad to the image's token count), tool schemas in a Hermes
``<tools>`` block when the caller passes ``tools`` and the system message does not already
say how to call them (it holds ``<tool_call>``: our prompts in either style, the compact one
listing signatures instead of schemas), assistant tool calls as ``<tool_call>`` JSON, and
tool results as a user turn wrapped in ``<tool_response>`` (consecutive tool messages share
one turn), as Qwen2.5 does.

The template has no incidental whitespace (it is concatenated without line breaks), so it
needs no whitespace control; transformers renders with ``trim_blocks``, which drops a newline
right after a tag, so the newlines that follow a tag are written as Jinja string literals.

An assistant message whose text already holds its ``<tool_call>`` (the env keeps the model's
message verbatim) is rendered as written, so training sees exactly the generated tokens;
one whose text does not (TRL's, OpenAI's) gets its ``tool_calls`` rendered after the text.
Rendering a conversation and then its continuation gives the same prefix.

:data:`RESPONSE_TEMPLATE` is the response-parsing description transformers' ``parse_response``
and TRL need, set on the tokenizer by hand: TRL 1.16's ``add_response_schema`` only knows the
templates of published models.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHAT_TEMPLATE", "RESPONSE_TEMPLATE"]

CHAT_TEMPLATE = (
    "{% macro render(content) %}"
    "{% if content is string %}{{ content }}"
    "{% else %}{% for part in content %}"
    "{% if part.type == 'image' or part.type == 'image_url' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% endmacro %}"
    "{% macro tools_block() %}"
    "{{ '\\n\\n' }}# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
    "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}{{ '\\n' }}</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    "{% endmacro %}"
    "{% if tools and (not messages or messages[0].role != 'system') %}"
    "<|im_start|>system\nYou are a helpful assistant.{{ tools_block() }}<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message.role == 'system' %}"
    "<|im_start|>system\n{{ render(message.content) }}"
    "{% if tools and '<tool_call>' not in render(message.content) %}{{ tools_block() }}{% endif %}"
    "<|im_end|>\n"
    "{% elif message.role == 'user' %}"
    "<|im_start|>user\n{{ render(message.content) }}<|im_end|>\n"
    "{% elif message.role == 'assistant' %}"
    "{% set text = render(message.content) if message.content is not none else '' %}"
    "<|im_start|>assistant\n{{ text }}"
    "{% if message.tool_calls and '<tool_call>' not in text %}"
    "{% for call in message.tool_calls %}"
    "{% if text or not loop.first %}{{ '\\n' }}{% endif %}"
    '<tool_call>\n{"name": "{{ call.function.name }}", "arguments": '
    "{{ call.function.arguments if call.function.arguments is string "
    "else call.function.arguments | tojson }}}\n</tool_call>"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% elif message.role == 'tool' %}"
    "{% if loop.first or messages[loop.index0 - 1].role != 'tool' %}<|im_start|>user{% endif %}"
    "{{ '\\n' }}<tool_response>\n{{ render(message.content) }}\n</tool_response>"
    "{% if loop.last or messages[loop.index0 + 1].role != 'tool' %}<|im_end|>\n{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""The Jinja chat template (transformers' ``apply_chat_template`` renders it)."""

RESPONSE_TEMPLATE: dict[str, Any] = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|im_start|>assistant\n",
    "fields": {
        "tool_calls": {
            "open": "<tool_call>",
            "close_pattern": r"</tool_call>\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": "{content}"},
        },
        "content": {"close_pattern": r"<\|im_end\|>\s*", "content": "text"},
    },
}
"""How ``tokenizer.parse_response`` splits a generated turn into text and tool calls."""
