import json
import re

import numpy as np
import pytest

from iapo_bench.chat import (
    IMAGE_PLACEHOLDER,
    attach_images,
    build_messages,
    first_messages,
    pair_images,
    parse_error_feedback,
    render_transcript,
    split_system_prompt,
    system_prompt,
)
from iapo_bench.core import Answer, ParseError, ParseErrorKind, ToolCall, ToolResult, Turn

IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)

ZOOM = ToolCall(name="zoom", arguments={"box": [0, 0, 2, 2], "factor": 2.0})
ZOOM_TURN = Turn(
    text='Look closer. <tool_call>{"name": "zoom"}</tool_call>',
    action=ZOOM,
    result=ToolResult(text="Zoomed in.", image=IMAGE),
)
READ_TURN = Turn(
    text="<tool_call>read</tool_call>",
    action=ToolCall(name="read", arguments={}),
    result=ToolResult(text="Values: 3, 4"),
)
FAILED_TURN = Turn(
    text="<tool_call>bad box</tool_call>",
    action=ToolCall(name="zoom", arguments={"box": [5, 5, 1, 1]}),
    result=ToolResult(text="", error="box is empty"),
)
ERROR = ParseError(error=ParseErrorKind.MALFORMED_JSON, message="the tool call is not valid JSON")
ERROR_TURN = Turn(text="<tool_call>{oops</tool_call>", action=ERROR)
ANSWER_TURN = Turn(text="It is 3. <answer>3</answer>", action=Answer(text="3"))


def count_placeholders(messages):
    return sum(
        1
        for message in messages
        if not isinstance(message["content"], str)
        for part in message["content"]
        if part["type"] == "image"
    )


# --- build_messages --------------------------------------------------------------------------


def test_first_messages_are_system_then_user_image_and_question():
    messages = build_messages("SYS", "How many bars?", [])
    assert messages == [
        {"role": "system", "content": "SYS"},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "How many bars?"}],
        },
    ]


def test_tool_call_turn_gives_assistant_with_tool_calls_then_tool_message():
    messages = build_messages("SYS", "Q", [ZOOM_TURN])
    assert len(messages) == 4
    assistant, tool = messages[2], messages[3]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == ZOOM_TURN.text
    assert assistant["tool_calls"] == [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "zoom", "arguments": {"box": [0, 0, 2, 2], "factor": 2.0}},
        }
    ]
    assert isinstance(assistant["tool_calls"][0]["function"]["arguments"], dict)
    assert tool == {
        "role": "tool",
        "tool_call_id": "call_0",
        "name": "zoom",
        "content": [{"type": "text", "text": "Zoomed in."}, {"type": "image"}],
    }


def test_tool_message_without_image_has_only_text():
    messages = build_messages("SYS", "Q", [READ_TURN])
    assert messages[3]["content"] == [{"type": "text", "text": "Values: 3, 4"}]


def test_tool_error_is_shown_as_error_text():
    messages = build_messages("SYS", "Q", [FAILED_TURN])
    assert messages[3]["role"] == "tool"
    assert messages[3]["content"] == [{"type": "text", "text": "Error: box is empty"}]


def test_parse_error_gives_assistant_then_user_feedback():
    messages = build_messages("SYS", "Q", [ERROR_TURN])
    assert len(messages) == 4
    assert messages[2] == {"role": "assistant", "content": ERROR_TURN.text}
    assert messages[3]["role"] == "user"
    assert messages[3]["content"] == parse_error_feedback(ERROR)
    assert "malformed_json" in messages[3]["content"]
    assert "the tool call is not valid JSON" in messages[3]["content"]


def test_answer_gives_plain_assistant_message():
    messages = build_messages("SYS", "Q", [ANSWER_TURN])
    assert messages[2:] == [{"role": "assistant", "content": ANSWER_TURN.text}]


def test_call_ids_follow_turn_index():
    messages = build_messages("SYS", "Q", [ERROR_TURN, ZOOM_TURN, READ_TURN, ANSWER_TURN])
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert messages[4]["tool_calls"][0]["id"] == messages[5]["tool_call_id"] == "call_1"
    assert messages[6]["tool_calls"][0]["id"] == messages[7]["tool_call_id"] == "call_2"
    assert "tool_calls" not in messages[2]
    assert "tool_calls" not in messages[8]


def test_build_messages_returns_fresh_objects():
    turns = [ZOOM_TURN, ANSWER_TURN]
    first = build_messages("SYS", "Q", turns)
    first[0]["content"] = "changed"
    first[1]["content"].append({"type": "text", "text": "extra"})
    first[1]["content"][0]["type"] = "text"
    first[2]["tool_calls"][0]["function"]["arguments"]["factor"] = 9.0
    first[3]["content"].clear()
    second = build_messages("SYS", "Q", turns)
    assert second[0]["content"] == "SYS"
    assert second[1]["content"] == [{"type": "image"}, {"type": "text", "text": "Q"}]
    assert second[2]["tool_calls"][0]["function"]["arguments"] == {
        "box": [0, 0, 2, 2],
        "factor": 2.0,
    }
    assert second[3]["content"] == [{"type": "text", "text": "Zoomed in."}, {"type": "image"}]
    assert ZOOM.arguments == {"box": [0, 0, 2, 2], "factor": 2.0}


def test_build_messages_does_not_share_nested_argument_values():
    call = ToolCall(name="zoom", arguments={"box": [0, 0, 2, 2]})
    turn = Turn(text="t", action=call, result=ToolResult(text="ok"))
    first = build_messages("SYS", "Q", [turn])
    first[2]["tool_calls"][0]["function"]["arguments"]["box"].append(99)
    second = build_messages("SYS", "Q", [turn])
    assert second[2]["tool_calls"][0]["function"]["arguments"]["box"] == [0, 0, 2, 2]
    assert call.arguments["box"] == [0, 0, 2, 2]


# --- render_transcript -----------------------------------------------------------------------


def test_transcript_has_one_image_mark_per_placeholder():
    turns = [ZOOM_TURN, READ_TURN, ERROR_TURN, ZOOM_TURN, FAILED_TURN, ANSWER_TURN]
    messages = build_messages("SYS", "Q", turns)
    transcript = render_transcript(messages)
    assert count_placeholders(messages) == 3
    assert transcript.count(IMAGE_PLACEHOLDER) == 3


def test_transcript_wraps_tool_messages_in_tool_response():
    transcript = render_transcript(build_messages("SYS", "Q", [ZOOM_TURN]))
    assert transcript == (
        "<|im_start|>system\nSYS<|im_end|>\n"
        "<|im_start|>user\n<image>\nQ<|im_end|>\n"
        f"<|im_start|>assistant\n{ZOOM_TURN.text}<|im_end|>\n"
        "<|im_start|>tool\n<tool_response>\nZoomed in.\n<image>\n</tool_response><|im_end|>"
    )


def test_transcript_renders_every_message_once():
    messages = build_messages("SYS", "Q", [ERROR_TURN, READ_TURN, ANSWER_TURN])
    transcript = render_transcript(messages)
    assert transcript.count("<|im_start|>") == len(messages) == 7
    assert transcript.count("<tool_response>") == 1
    assert "Error:" not in transcript
    assert parse_error_feedback(ERROR) in transcript


# --- attach_images -------------------------------------------------------------------------


def test_attach_images_fills_placeholders_in_order():
    messages = build_messages("SYS", "Q", [ZOOM_TURN, READ_TURN, ZOOM_TURN])
    images = ["first", "second", "third"]
    attached = attach_images(messages, images)
    filled = [
        part["image"]
        for message in attached
        if not isinstance(message["content"], str)
        for part in message["content"]
        if part["type"] == "image"
    ]
    assert filled == images
    assert attached[1]["content"][0] == {"type": "image", "image": "first"}
    assert attached[3]["content"] == [
        {"type": "text", "text": "Zoomed in."},
        {"type": "image", "image": "second"},
    ]


def test_attach_images_leaves_input_untouched():
    messages = build_messages("SYS", "Q", [ZOOM_TURN])
    attach_images(messages, ["a", "b"])
    assert messages == build_messages("SYS", "Q", [ZOOM_TURN])


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (["a"], "more image placeholders than images"),
        ([], "more image placeholders than images"),
        (["a", "b", "c"], "1 images left over"),
    ],
)
def test_attach_images_rejects_count_mismatch(images, match):
    messages = build_messages("SYS", "Q", [ZOOM_TURN])
    with pytest.raises(ValueError, match=match):
        attach_images(messages, images)


def test_pair_images_makes_each_part_in_order_and_shares_nothing():
    messages = build_messages("SYS", "Q", [ZOOM_TURN])
    made = []

    def part(image):
        made.append(image)
        return {"type": "image_url", "image_url": {"url": f"data:{image}"}}

    paired = pair_images(messages, ["first", "second"], part)
    assert made == ["first", "second"]
    assert paired[1]["content"][0] == {"type": "image_url", "image_url": {"url": "data:first"}}
    assert [m.keys() for m in paired] == [m.keys() for m in messages]  # fields kept in order
    paired[2]["tool_calls"][0]["function"]["arguments"]["box"].append(99)
    paired[3]["content"][0]["text"] = "changed"
    assert messages == build_messages("SYS", "Q", [ZOOM_TURN])


# --- system_prompt -------------------------------------------------------------------------


def tools_block(prompt: str) -> list[str]:
    match = re.search(r"<tools>\n(.*?)\n</tools>", prompt, re.DOTALL)
    assert match is not None
    return match.group(1).split("\n")


def test_system_prompt_embeds_one_schema_per_line():
    schemas = [
        {
            "type": "function",
            "function": {
                "name": "zoom",
                "description": "Zoom into a box.\n\nReturns the crop.",
                "parameters": {"type": "object", "properties": {}, "required": []},
            },
        },
        {
            "type": "function",
            "function": {
                "name": "read",
                "description": "Lire l'étiquette — «ünïcode»",
                "parameters": {
                    "type": "object",
                    "properties": {"labels": {"type": "array", "items": {"type": "string"}}},
                    "required": ["labels"],
                },
            },
        },
    ]
    prompt = system_prompt(schemas)
    lines = tools_block(prompt)
    assert [json.loads(line) for line in lines] == schemas
    assert "«ünïcode»" in prompt
    assert "<tool_call>" in prompt
    assert "<answer>" in prompt


def test_system_prompt_without_tools_has_empty_block():
    assert tools_block(system_prompt([])) == [""]


def test_compact_system_prompt_lists_signatures_and_splits_back():
    schemas = [
        {"type": "function", "function": {"name": "compare", "parameters": {
            "type": "object", "properties": {"bars": {}}}}},
        {"type": "function", "function": {"name": "zoom", "parameters": {
            "type": "object", "properties": {"box": {}, "scale": {}}}}},
    ]  # fmt: skip
    prompt = system_prompt(schemas, "compact")
    assert "compare(bars); zoom(box, scale)" in prompt and "<answer>" in prompt
    assert len(prompt) < len(system_prompt(schemas)) / 2
    before, tools, after = split_system_prompt(prompt)
    assert tools == "compare(bars); zoom(box, scale)" and before + tools + after == prompt
    assert split_system_prompt(system_prompt(schemas))[1].startswith('{"type": "function"')
    with pytest.raises(ValueError, match="prompt style"):
        system_prompt(schemas, "short")


def test_first_messages_take_the_style():
    schemas = [{"type": "function", "function": {"name": "compare"}}]
    compact = first_messages("Which?", schemas, "compact")
    assert compact[0]["content"] == system_prompt(schemas, "compact")
    assert first_messages("Which?", schemas)[0]["content"] == system_prompt(schemas)
