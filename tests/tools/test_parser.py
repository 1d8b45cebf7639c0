import json
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from iapo_bench.core import Answer, ParseError, ParseErrorKind, ToolCall
from iapo_bench.tools import format_answer, format_tool_call, parse_action, tool


@tool
def highlight(labels: list[str]) -> str:
    """Highlight labels.

    Args:
        labels: The labels to highlight.
    """
    return ", ".join(labels)


@tool
def zoom(box: Annotated[list[int], Field(min_length=4, max_length=4)], factor: float = 2.0) -> str:
    """Zoom into a box.

    Args:
        box: The box as [x0, y0, x1, y1].
        factor: The zoom factor.
    """
    return f"{box} x{factor}"


@tool
def reset_view() -> str:
    """Show the original image again."""
    return "reset"


@tool
def page(number: int = 1) -> str:
    """Turn to a page.

    Args:
        number: The page number.
    """
    return str(number)


TOOLS = [highlight, zoom, reset_view, page]
BY_NAME = {t.name: t for t in TOOLS}

ZOOM_JSON = '{"name": "zoom", "arguments": {"box": [0, 0, 4, 4]}}'
ZOOM_CALL = ToolCall(name="zoom", arguments={"box": [0, 0, 4, 4], "factor": 2.0})
TAGS = ["<tool_call>", "</tool_call>", "<answer>", "</answer>"]


def contains_tag(text: str) -> bool:
    return any(tag in text for tag in TAGS)


def parse(text):
    return parse_action(text, TOOLS)


def assert_error(result, kind: ParseErrorKind) -> ParseError:
    assert isinstance(result, ParseError), result
    assert result.error is kind, result
    assert result.message
    return result


# --- accepted ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer>42</answer>", Answer(text="42")),
        ("It is the tallest. <answer> Peru </answer>", Answer(text="Peru")),
        ("<answer>\n  3.5\n</answer>\nDone.", Answer(text="3.5")),
        ("<answer>two\nlines</answer>", Answer(text="two\nlines")),
        ("<answer></answer>", Answer(text="")),
        (f"<tool_call>{ZOOM_JSON}</tool_call>", ZOOM_CALL),
        (f"I should zoom first.\n<tool_call>\n  {ZOOM_JSON}  \n</tool_call>\nOk.", ZOOM_CALL),
        (f"<tool_call>\n```json\n{ZOOM_JSON}\n```\n</tool_call>", ZOOM_CALL),
        (f"<tool_call>```\n{ZOOM_JSON}\n```</tool_call>", ZOOM_CALL),
        (f"<tool_call>```JSON {ZOOM_JSON}```</tool_call>", ZOOM_CALL),
    ],
)
def test_reads_one_action_with_text_around(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"Let me zoom.\n<tool_call>\n{ZOOM_JSON}",
        f"Let me zoom.\n<tool_call>\n{ZOOM_JSON}\n  ",
        f"<tool_call>\n```json\n{ZOOM_JSON}\n```",
    ],
)
def test_missing_closing_tag_at_end_is_accepted(text):
    assert parse(text) == ZOOM_CALL


@pytest.mark.parametrize(
    "text",
    [
        f"<tool_call>\n{ZOOM_JSON}\nI hope that works.",
        f"<tool_call>\n{ZOOM_JSON}{ZOOM_JSON}",
        '<tool_call>\n{"name": "zoom", "arguments": {"box": [0, 0, 4, 4]}',
        "<tool_call>\n[1, 2]",
    ],
)
def test_missing_closing_tag_needs_exactly_one_json_object(text):
    assert_error(parse(text), ParseErrorKind.NO_ACTION)


def test_arguments_as_json_string_are_accepted():
    body = json.dumps({"name": "zoom", "arguments": json.dumps({"box": [0, 0, 4, 4]})})
    assert parse(f"<tool_call>{body}</tool_call>") == ZOOM_CALL


@pytest.mark.parametrize(
    ("name", "arguments"),
    [("reset_view", {}), ("page", {"number": 1})],
)
def test_missing_arguments_are_accepted_when_all_have_defaults(name, arguments):
    result = parse(f'<tool_call>{{"name": "{name}"}}</tool_call>')
    assert result == ToolCall(name=name, arguments=arguments)


def test_missing_arguments_for_required_parameters_are_invalid():
    result = assert_error(
        parse('<tool_call>{"name": "zoom"}</tool_call>'), ParseErrorKind.INVALID_ARGUMENTS
    )
    assert "box: Field required" in result.message


def test_extra_top_level_keys_are_ignored():
    body = json.dumps(
        {"id": "call_1", "type": "function", "name": "zoom", "arguments": {"box": [0, 0, 4, 4]}}
    )
    assert parse(f"<tool_call>{body}</tool_call>") == ZOOM_CALL


def test_arguments_are_validated_and_defaults_filled():
    text = '<tool_call>{"name": "zoom", "arguments": {"box": ["1", 2, 3, 4], "factor": 3}}'
    assert parse(text + "</tool_call>") == ToolCall(
        name="zoom", arguments={"box": [1, 2, 3, 4], "factor": 3.0}
    )


def test_tools_may_be_given_as_mapping():
    assert parse_action(f"<tool_call>{ZOOM_JSON}</tool_call>", BY_NAME) == ZOOM_CALL
    assert parse_action(f"<tool_call>{ZOOM_JSON}</tool_call>", iter(TOOLS)) == ZOOM_CALL


# --- error kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The answer is 3.",
        "Answer: 3",
        "<answer>42",
        "I will answer now. <answer> 42",
        ZOOM_JSON,
        f"```json\n{ZOOM_JSON}\n```",
        "\\boxed{3}",
        "The answer is $\\boxed{42}$.",
        "<ANSWER>3</ANSWER>",
        "<Answer>3</Answer>",
        f"<TOOL_CALL>{ZOOM_JSON}</TOOL_CALL>",
        "</answer>3</answer>",
        "<answer/>",
    ],
)
def test_no_action(text):
    assert_error(parse(text), ParseErrorKind.NO_ACTION)


def test_unclosed_answer_explains_the_missing_tag():
    result = assert_error(parse("<answer>42"), ParseErrorKind.NO_ACTION)
    assert "never closed" in result.message


@pytest.mark.parametrize(
    "body",
    [
        "{name: zoom}",
        "{'name': 'zoom', 'arguments': {'box': [0, 0, 4, 4]}}",
        '{"name": "zoom", "arguments": {"box": [0, 0, 4, 4],}}',
        '["zoom", {"box": [0, 0, 4, 4]}]',
        '"zoom"',
        "",
        '{"arguments": {"box": [0, 0, 4, 4]}}',
        '{"name": 3, "arguments": {}}',
        '{"name": "zoom", "arguments": [0, 0, 4, 4]}',
        '{"name": "zoom", "arguments": "box=[0, 0, 4, 4]"}',
        '{"name": "zoom", "arguments": "[0, 0, 4, 4]"}',
        '{"name": "zoom", "arguments": null}',
        "[" * 100_000,
    ],
)
def test_malformed_json(body):
    assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.MALFORMED_JSON)


@pytest.mark.parametrize(
    "body",
    [
        "1" * 5000,
        '{"name": "zoom", "arguments": {"box": [' + "1" * 5000 + ", 0, 4, 4]}}",
    ],
)
def test_oversized_integers_are_malformed_json_not_a_crash(body):
    assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.MALFORMED_JSON)


def test_oversized_integer_in_unclosed_call_is_not_a_crash():
    result = parse("<tool_call>" + "1" * 5000)
    assert isinstance(result, ParseError)


def test_unknown_tool_names_the_available_tools():
    result = assert_error(
        parse('<tool_call>{"name": "rotate", "arguments": {}}</tool_call>'),
        ParseErrorKind.UNKNOWN_TOOL,
    )
    assert "'rotate'" in result.message
    assert "highlight, page, reset_view, zoom" in result.message


def test_unknown_tool_without_tools():
    result = assert_error(
        parse_action(f"<tool_call>{ZOOM_JSON}</tool_call>", []), ParseErrorKind.UNKNOWN_TOOL
    )
    assert "none" in result.message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"box": [0, 0, 4]},
            "zoom: box: List should have at least 4 items after validation, not 3",
        ),
        (
            {"box": [0, 0, 4, 4, 5]},
            "zoom: box: List should have at most 4 items after validation, not 5",
        ),
        (
            {"box": [0, 0, 4, 4], "scale": 2},
            "zoom: scale: Extra inputs are not permitted",
        ),
        (
            {"box": [0, "x", 4, 4]},
            "zoom: box.1: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"box": [0, 0, 4, 4], "factor": "big"},
            "zoom: factor: Input should be a valid number, unable to parse string as a number",
        ),
    ],
)
def test_invalid_arguments_carry_pydantic_message(arguments, message):
    body = json.dumps({"name": "zoom", "arguments": arguments})
    result = assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.INVALID_ARGUMENTS)
    assert result.message == message


@pytest.mark.parametrize(
    "text",
    [
        "<answer>3</answer><answer>4</answer>",
        "<answer>3</answer> or maybe <answer>3</answer>",
        f"<tool_call>{ZOOM_JSON}</tool_call><answer>3</answer>",
        f"<answer>3</answer>\n<tool_call>{ZOOM_JSON}</tool_call>",
        f"<tool_call>{ZOOM_JSON}</tool_call>\n<tool_call>{ZOOM_JSON}</tool_call>",
        f"<answer>3</answer>\n<tool_call>{ZOOM_JSON}",
        "<answer>3</answer> <answer>",
        "<answer> <answer>3</answer>",
        "<tool_call> <answer>3</answer>",
        f"<tool_call>{ZOOM_JSON}</tool_call> <answer>",
        f"<answer>3</answer> <tool_call>{ZOOM_JSON}</tool_call",
        f"<tool_call>{ZOOM_JSON} <answer>3</answer></tool_call>",
    ],
)
def test_several_actions(text):
    assert_error(parse(text), ParseErrorKind.SEVERAL_ACTIONS)


@pytest.mark.parametrize("value", [None, 3, b"<answer>3</answer>", ["<answer>3</answer>"]])
def test_non_text_input_is_a_parse_error(value):
    assert_error(parse_action(value, TOOLS), ParseErrorKind.NO_ACTION)


# --- format ------------------------------------------------------------------------------------


def test_format_tool_call_is_canonical():
    call = ToolCall(name="zoom", arguments={"box": [0, 0, 8, 8]})
    assert format_tool_call(call) == (
        '<tool_call>\n{"name": "zoom", "arguments": {"box": [0, 0, 8, 8]}}\n</tool_call>'
    )


def test_format_answer_is_canonical():
    assert format_answer("42") == "<answer>42</answer>"


@pytest.mark.parametrize("tag", TAGS)
def test_tool_call_with_tag_text_in_arguments_round_trips_or_is_refused(tag):
    call = ToolCall(name="highlight", arguments={"labels": [f"a {tag} b"]})
    try:
        text = format_tool_call(call)
    except ValueError:
        return
    assert parse(text) == call


# --- properties --------------------------------------------------------------------------------

FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<answer>",
    "</answer>",
    '{"name": ',
    '"zoom"',
    '"reset_view"',
    '"arguments"',
    '"box"',
    "{",
    "}",
    "[",
    "]",
    '"',
    ",",
    ":",
    " ",
    "\n",
    "```",
    "json",
    "\\",
]
fragment_text = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(alphabet="abcxyz0123456789-.eE", min_size=1, max_size=4),
    ),
    max_size=30,
).map("".join)


def check_result(result):
    assert isinstance(result, (ToolCall, Answer, ParseError))
    if isinstance(result, ToolCall):
        assert result.name in BY_NAME
        assert result.arguments == BY_NAME[result.name].validate(result.arguments)
    if isinstance(result, ParseError):
        assert isinstance(result.error, ParseErrorKind)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    check_result(parse(text))


@settings(max_examples=1500, deadline=None)
@given(fragment_text)
def test_never_raises_on_action_like_text(text):
    check_result(parse(text))


no_angle = st.text(alphabet=st.characters(blacklist_characters="<"), max_size=30)
finite_floats = st.floats(allow_nan=False)
# Labels holding action tags are covered by the explicit test above.
label_text = st.text(max_size=10).filter(lambda text: not contains_tag(text))
tool_arguments = st.one_of(
    st.tuples(
        st.just("highlight"),
        st.fixed_dictionaries({"labels": st.lists(label_text, max_size=4)}),
    ),
    st.tuples(
        st.just("zoom"),
        st.fixed_dictionaries(
            {"box": st.lists(st.integers(), min_size=4, max_size=4)},
            optional={"factor": st.one_of(finite_floats, st.integers(-1000, 1000))},
        ),
    ),
    st.tuples(st.just("reset_view"), st.just({})),
    st.tuples(
        st.just("page"),
        st.fixed_dictionaries({}, optional={"number": st.integers()}),
    ),
)


@settings(max_examples=500, deadline=None)
@given(tool_arguments, no_angle, no_angle)
def test_formatted_tool_call_round_trips(named_arguments, before, after):
    name, arguments = named_arguments
    text = before + format_tool_call(ToolCall(name=name, arguments=arguments)) + after
    expected = ToolCall(name=name, arguments=BY_NAME[name].validate(arguments))
    assert parse(text) == expected


answer_text = st.one_of(
    st.text(),
    st.lists(
        st.sampled_from(
            ["<", ">", "/", "answer", "tool_call", "<answer", "answer>", " ", "x", "\n"]
        ),
        max_size=12,
    ).map("".join),
).filter(lambda text: not contains_tag(text))


@settings(max_examples=500, deadline=None)
@given(answer_text)
def test_formatted_answer_round_trips(text):
    assert parse(format_answer(text)) == Answer(text=text.strip())


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20), st.sampled_from(TAGS), st.text(max_size=20))
def test_format_answer_refuses_action_tags(before, tag, after):
    with pytest.raises(ValueError, match="action tags"):
        format_answer(before + tag + after)
