import json
import re
from typing import Annotated

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from iapo_bench.core import Answer, ParseError, ParseErrorKind, ToolCall
from iapo_bench.tools import (
    format_answer,
    format_tool_call,
    format_validation_error,
    parse_action,
    tool,
)
from iapo_bench.tools.parser import MAX_ERROR_MESSAGE_LENGTH, truncate_text


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


# --- the previous definition, as a reference for small inputs ----------------------------------
#
# REFERENCE ONLY: the regex implementation parse_action had before it was made linear, copied
# verbatim (but for names) from git history. Its lazy patterns backtrack (cubic time on a fence
# full of whitespace, quadratic on unclosed tags), so it only ever sees short inputs, in the
# differential test below: the linear parser must give the same result on every one of them.
# Every other property in this module is stated directly, not against this copy.

_REF_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>|<answer>(.*?)</answer>", re.DOTALL)
_REF_OPEN = re.compile(r"<tool_call>|<answer>")
_REF_FENCE = re.compile(r"\A```(?:json)?\s*(.*?)\s*```\Z", re.DOTALL | re.IGNORECASE)


def _ref_error(kind, message):
    return ParseError(error=kind, message=message)


def _ref_parse_call(body, tools):
    body = body.strip()
    fenced = _REF_FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as error:
        return _ref_error(
            ParseErrorKind.MALFORMED_JSON, f"the tool call is not valid JSON: {error}"
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
        return _ref_error(
            ParseErrorKind.MALFORMED_JSON,
            'a tool call must be a JSON object {"name": ..., "arguments": {...}}',
        )
    name = payload["name"]
    arguments = payload.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as error:
            return _ref_error(
                ParseErrorKind.MALFORMED_JSON, f"the arguments string is not valid JSON: {error}"
            )
    if not isinstance(arguments, dict):
        return _ref_error(ParseErrorKind.MALFORMED_JSON, '"arguments" must be a JSON object')
    tool_ = tools.get(name)
    if tool_ is None:
        available = ", ".join(sorted(tools)) or "none"
        return _ref_error(
            ParseErrorKind.UNKNOWN_TOOL, f"there is no tool {name!r}; available: {available}"
        )
    try:
        validated = tool_.validate(arguments)
    except pydantic.ValidationError as error:
        return _ref_error(
            ParseErrorKind.INVALID_ARGUMENTS, f"{name}: {format_validation_error(error)}"
        )
    return ToolCall(name=name, arguments=validated)


def _ref_looks_like_one_json_object(candidate):
    candidate = candidate.strip()
    fenced = _REF_FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1)
    try:
        return isinstance(json.loads(candidate), dict)
    except (ValueError, RecursionError):
        return False


def reference_parse(text, tools=BY_NAME):
    blocks = []
    end = 0
    for match in _REF_BLOCK.finditer(text):
        if match.group(1) is not None:
            blocks.append(("call", match.group(1)))
        else:
            blocks.append(("answer", match.group(2)))
        end = match.end()
    tail = text[end:]
    tail_open = tail.find("<tool_call>")
    if tail_open >= 0 and "<tool_call>" not in tail[tail_open + 1 :] and "<answer>" not in tail:
        candidate = tail[tail_open + len("<tool_call>") :]
        if _ref_looks_like_one_json_object(candidate):
            blocks.append(("call", candidate))
    opened = len(_REF_OPEN.findall(text))
    if len(blocks) > 1 or (blocks and opened > len(blocks)):
        return _ref_error(
            ParseErrorKind.SEVERAL_ACTIONS,
            f"found {max(opened, len(blocks))} actions; write exactly one per message",
        )
    if not blocks:
        if opened:
            return _ref_error(
                ParseErrorKind.NO_ACTION,
                "an action tag is opened but never closed; close it with </answer> or </tool_call>",
            )
        return _ref_error(
            ParseErrorKind.NO_ACTION,
            "no <tool_call>...</tool_call> or <answer>...</answer> found",
        )
    kind, body = blocks[0]
    if kind == "answer":
        return Answer(text=body.strip())
    return _ref_parse_call(body, tools)


def _comparable(result):
    # An unknown tool's message now quotes at most 100 characters of its name (tested on its
    # own below); every other message must match word for word.
    if isinstance(result, ParseError) and result.error is ParseErrorKind.UNKNOWN_TOOL:
        return (result.error, None)
    return result


# Pieces of action-like text: whole, partial and differently cased tags, JSON of valid and
# invalid calls, arguments as a JSON string, fences with and without a language in several
# cases ("jſon", with a long s, is "json" to a case-insensitive pattern), and whitespace of
# several kinds (U+00A0, U+2003 and U+001C are whitespace to str.strip and to \s alike).
DIFFERENTIAL_FRAGMENTS = [
    *TAGS,
    *TAGS,
    "<tool_call",
    "</tool_call",
    "tool_call>",
    "<answer",
    "answer>",
    "</",
    "<",
    ">",
    "<ANSWER>",
    "</Tool_Call>",
    ZOOM_JSON,
    '{"name": "page"}',
    '{"name": "reset_view", "arguments": "{}"}',
    '"arguments": "{\\"number\\": 3}"',
    '{"name": ',
    '"zoom"',
    '"rotate"',
    '"arguments": {',
    '"box": [0, 0, 4, 4]',
    "{",
    "}",
    "[",
    "]",
    '"',
    ",",
    ":",
    "3",
    "x",
    "```",
    "``",
    "`",
    "json",
    "JSON",
    "Json",
    "jſon",
    " ",
    "\n",
    "\t",
    "\u00a0",
    "\u2003",
    "\x1c",
    "\\",
]


def fragment_soup(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(DIFFERENTIAL_FRAGMENTS), max_size=max_size).map("".join)


# Shaped like an action, so that every branch is reached often: context, an opening tag,
# whitespace, perhaps a fence, JSON-like pieces (often a whole call), perhaps a closing tag.
action_shaped = st.tuples(
    fragment_soup(4),
    st.sampled_from(["<tool_call>", "<answer>"]),
    st.sampled_from(["", " ", "\n", "\u00a0"]),
    st.sampled_from(["", "```", "```json", "```JSON\n", "``` jſon "]),
    st.one_of(st.just(ZOOM_JSON), st.just('{"name": "page"}'), fragment_soup(5)),
    st.sampled_from(["", " ", "\n\t"]),
    st.sampled_from(["", "```", "`` `", "\n```"]),
    st.sampled_from(["</tool_call>", "</answer>", "", "</tool_call", " "]),
    fragment_soup(4),
).map("".join)
differential_text = st.one_of(
    fragment_soup(24),
    action_shaped,
    st.tuples(action_shaped, action_shaped).map("".join),
)


@settings(max_examples=1000, deadline=None)
@given(differential_text)
def test_same_result_as_the_previous_definition_on_small_inputs(text):
    assert _comparable(parse(text)) == _comparable(reference_parse(text))


@pytest.mark.parametrize(
    "text",
    [
        "<tool_call>```" + " " * 40 + "x</tool_call>",
        "<tool_call>``````</tool_call>",
        "<tool_call>`````</tool_call>",
        "<tool_call>```json```</tool_call>",
        f"<tool_call>```jſon\n{ZOOM_JSON}\n```</tool_call>",
        f"<tool_call>```json{ZOOM_JSON}```</tool_call>",
        f"<tool_call>```jsonx{ZOOM_JSON}```</tool_call>",
        f"<tool_call>\u00a0```\u2003{ZOOM_JSON}\x1c```\n</tool_call>",
        f"<tool_call>``` ```{ZOOM_JSON}```</tool_call>",
        "<tool_call>" * 30,
        "<answer>" * 30 + "</answer>",
        "<answer>1</answer>" + "<tool_call>" * 5,
        f"<answer><tool_call>{ZOOM_JSON}</answer>",
        f"<tool_call>{ZOOM_JSON}<answer>",
        f"x</answer><tool_call>{ZOOM_JSON}",
        f"<tool_call><tool_call>{ZOOM_JSON}",
        '<tool_call>{"name": "highlight", "arguments": {"labels": ["</answer>"]}}',
    ],
)
def test_same_result_as_the_previous_definition_on_edge_cases(text):
    assert _comparable(parse(text)) == _comparable(reference_parse(text))


# --- properties, stated directly --------------------------------------------------------------

# Text around an action: any characters, including "<", ">", partial and differently cased
# tags, but no action tag.
context_text = st.lists(
    st.one_of(
        st.text(max_size=8),
        st.sampled_from(
            ["<", ">", "/", "<answer", "answer>", "</tool_call", "<TOOL_CALL>", "<Answer>", "```"]
        ),
    ),
    max_size=6,
).map("".join)
context_text = context_text.filter(lambda text: not contains_tag(text))
whitespace = st.text(alphabet=" \t\n\r\u00a0\u2003\x1c", max_size=4)
call_payloads = tool_arguments.map(lambda named: {"name": named[0], "arguments": named[1]})


def fenced(body: str, language: str, before: str, after: str) -> str:
    return f"```{language}{before}{body}{after}```"


def expected_call(payload):
    return ToolCall(
        name=payload["name"], arguments=BY_NAME[payload["name"]].validate(payload["arguments"])
    )


@settings(max_examples=300, deadline=None)
@given(context_text, answer_text, context_text)
def test_reasoning_around_an_answer_is_ignored(before, body, after):
    assert parse(f"{before}<answer>{body}</answer>{after}") == Answer(text=body.strip())


@settings(max_examples=300, deadline=None)
@given(context_text, call_payloads, whitespace, whitespace, context_text)
def test_reasoning_around_a_call_is_ignored(before, payload, pad_left, pad_right, after):
    body = json.dumps(payload).replace("<", "\\u003c")
    text = f"{before}<tool_call>{pad_left}{body}{pad_right}</tool_call>{after}"
    assert parse(text) == expected_call(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
call_bodies = st.one_of(
    call_payloads.map(json.dumps),
    json_values.map(json.dumps),
    st.fixed_dictionaries({"name": st.text(max_size=8), "arguments": json_values}).map(json.dumps),
    st.sampled_from(["{name: zoom}", '{"name": "zoom",}', "", "[", "{'a': 1}"]),
).filter(lambda body: not contains_tag(body))


@settings(max_examples=500, deadline=None)
@given(
    body=call_bodies,
    language=st.sampled_from(["", "json", "JSON", "Json"]),
    pads=st.tuples(whitespace, whitespace, whitespace, whitespace),
)
def test_a_fence_and_whitespace_around_the_json_change_nothing(body, language, pads):
    plain = parse(f"<tool_call>{body}</tool_call>")
    inner = fenced(body, language, pads[1], pads[2])
    assert parse(f"<tool_call>{pads[0]}{inner}{pads[3]}</tool_call>") == plain


@settings(max_examples=300, deadline=None)
@given(context_text, call_payloads, st.booleans(), whitespace, whitespace)
def test_a_call_cut_off_before_its_closing_tag_is_read_at_the_end(
    before, payload, fence, pad_left, pad_right
):
    body = json.dumps(payload).replace("<", "\\u003c")
    if fence:
        body = fenced(body, "json", "\n", "\n")
    assert parse(f"{before}<tool_call>{pad_left}{body}{pad_right}") == expected_call(payload)


@settings(max_examples=300, deadline=None)
@given(
    context_text,
    call_payloads,
    context_text.filter(lambda text: text.strip() != ""),
)
def test_a_cut_off_call_with_anything_after_its_json_is_no_action(before, payload, after):
    body = json.dumps(payload).replace("<", "\\u003c")
    assert_error(parse(f"{before}<tool_call>{body}{after}"), ParseErrorKind.NO_ACTION)


@settings(max_examples=300, deadline=None)
@given(
    context_text,
    json_values.filter(lambda value: not isinstance(value, dict)).map(json.dumps),
    whitespace,
)
def test_a_cut_off_call_must_be_a_json_object(before, body, pad):
    assert_error(parse(f"{before}<tool_call>{body}{pad}"), ParseErrorKind.NO_ACTION)


@settings(max_examples=300, deadline=None)
@given(context_text, context_text)
def test_an_unclosed_answer_is_never_read(before, after):
    result = assert_error(parse(f"{before}<answer>{after}"), ParseErrorKind.NO_ACTION)
    assert "never closed" in result.message


one_action = st.one_of(
    answer_text.map(lambda body: ["<answer>", body, "</answer>"]),
    call_payloads.map(
        lambda payload: ["<tool_call>", json.dumps(payload).replace("<", "\\u003c"), "</tool_call>"]
    ),
)


@settings(max_examples=500, deadline=None)
@given(
    context_text, one_action, context_text, st.sampled_from(["<answer>", "<tool_call>"]), st.data()
)
def test_an_extra_opening_tag_anywhere_makes_several_actions(before, action, after, extra, data):
    # Insert it at a character boundary of the context, the body, or between the pieces;
    # never inside a tag, where it would break that tag instead.
    pieces = [before, action[0], action[1], action[2], after]
    where = data.draw(st.sampled_from([0, 2, 4]))
    cut = data.draw(st.integers(0, len(pieces[where])))
    pieces[where] = pieces[where][:cut] + extra + pieces[where][cut:]
    result = assert_error(parse("".join(pieces)), ParseErrorKind.SEVERAL_ACTIONS)
    assert result.message.startswith("found 2 actions")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<ANSWER>",
                "</ANSWER>",
                "<Answer>",
                "<TOOL_CALL>",
                "</Tool_call>",
                "<tool_Call>",
                ZOOM_JSON,
                "42",
                " ",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_tags_in_other_letter_cases_are_not_tags(text):
    result = assert_error(parse(text), ParseErrorKind.NO_ACTION)
    assert "no <tool_call>" in result.message


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["<answer>", "<tool_call>", "x", " ", "{", "}"]), max_size=20))
def test_counts_every_opening_tag_in_several_actions(pieces):
    text = "<answer>1</answer>" + "".join(pieces)
    result = parse(text)
    opened = text.count("<answer>") + text.count("<tool_call>")
    if opened == 1:
        assert result == Answer(text="1")
    else:
        assert_error(result, ParseErrorKind.SEVERAL_ACTIONS)
        assert result.message.startswith(f"found {opened} actions")


# --- degenerate text: what a policy under training emits, at sizes the old parser choked on -------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("<tool_call>```" + " " * 200_000 + "x</tool_call>", ParseErrorKind.MALFORMED_JSON),
        ("<tool_call>" + "`" * 200_000 + "</tool_call>", ParseErrorKind.MALFORMED_JSON),
        ("<tool_call>```" + "\n" * 200_000, ParseErrorKind.NO_ACTION),
        ("<tool_call>" * 50_000, ParseErrorKind.NO_ACTION),
        ("<answer>" * 50_000, ParseErrorKind.NO_ACTION),
        ("<answer><tool_call>" * 25_000, ParseErrorKind.NO_ACTION),
        ("<answer>" * 50_000 + "</answer>", ParseErrorKind.SEVERAL_ACTIONS),
        ("</answer></tool_call>" * 50_000, ParseErrorKind.NO_ACTION),
        ("I think <tool_call> {" * 20_000, ParseErrorKind.NO_ACTION),
        ("<answer>1</answer>" * 20_000, ParseErrorKind.SEVERAL_ACTIONS),
    ],
)
def test_degenerate_text_is_read_in_one_pass(text, kind):
    assert_error(parse(text), kind)


def test_a_call_padded_with_reasoning_is_read():
    pad = "Let me think about the chart. " * 30_000
    assert parse(f"{pad}<tool_call>{ZOOM_JSON}</tool_call>{pad}") == ZOOM_CALL
    fence = f"<tool_call>```json{' ' * 100_000}{ZOOM_JSON}{' ' * 100_000}```"
    assert parse(pad + fence) == ZOOM_CALL


def test_several_actions_counts_every_opening_tag():
    result = parse("<answer>1</answer>" * 1000)
    assert_error(result, ParseErrorKind.SEVERAL_ACTIONS)
    assert result.message.startswith("found 1000 actions")


# --- bounded messages -------------------------------------------------------------------------


def test_an_unknown_tool_name_is_quoted_short():
    name = "rotate" + "x" * 30_000
    body = json.dumps({"name": name, "arguments": {}})
    result = assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.UNKNOWN_TOOL)
    assert len(result.message) < 300
    assert repr(name[:100] + "…") in result.message
    assert result.message.endswith("available: highlight, page, reset_view, zoom")


@pytest.mark.parametrize(
    "arguments",
    [
        {"box": [0, 0, 4, 4], "k" * 30_000: 1},
        {"box": [0, 0, 4, 4], **{f"extra{i}": i for i in range(3000)}},
        {"box": ["x" * 30_000, 0, 4, 4]},
    ],
)
def test_invalid_argument_messages_are_bounded(arguments):
    body = json.dumps({"name": "zoom", "arguments": arguments})
    result = assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.INVALID_ARGUMENTS)
    assert len(result.message) <= MAX_ERROR_MESSAGE_LENGTH
    assert result.message.startswith("zoom: ")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=3000))
def test_every_error_message_is_bounded(name):
    body = json.dumps({"name": "highlight", "arguments": {name * 3: [name]}})
    for text in (f"<tool_call>{body}</tool_call>", f'<tool_call>{{"name": {json.dumps(name)}}}'):
        result = parse(text)
        if isinstance(result, ParseError):
            assert len(result.message) <= MAX_ERROR_MESSAGE_LENGTH


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(1, 200))
def test_truncate_text_keeps_the_start_and_says_how_much_it_cut(text, limit):
    cut = truncate_text(text, limit)
    assert len(cut) <= limit
    if len(text) <= limit:
        assert cut == text
        return
    match = re.fullmatch(r"(.*)… \[(\d+) more characters\]", cut, re.DOTALL)
    if match is None:  # a limit too small for any marker: the start alone
        assert cut == text[:limit]
        return
    kept, omitted = match.group(1), int(match.group(2))
    assert text.startswith(kept)
    assert len(kept) + omitted == len(text)


# --- Unicode ----------------------------------------------------------------------------------

surrogate_text = st.text(
    alphabet=st.characters(categories=["Cs", "Ll", "Lo", "Cc", "So", "Zs"]), max_size=30
).filter(lambda text: not contains_tag(text))


def is_surrogate(character: str) -> bool:
    return 0xD800 <= ord(character) <= 0xDFFF


@settings(max_examples=300, deadline=None)
@given(surrogate_text)
def test_each_surrogate_becomes_a_replacement_character_and_nothing_else_changes(body):
    answer = parse(f"<answer>{body}</answer>")
    assert isinstance(answer, Answer)
    answer.text.encode("utf-8")  # never raises
    # Surrogates are not whitespace, nor is U+FFFD: the same characters are stripped.
    stripped = body.strip()
    assert len(answer.text) == len(stripped)
    for got, wrote in zip(answer.text, stripped, strict=True):
        assert got == ("\ufffd" if is_surrogate(wrote) else wrote)


def test_lone_surrogates_in_the_text_become_replacement_characters():
    # A surrogate pair in a str is two code points that UTF-8 cannot encode either.
    result = parse("\ud800 <answer>4\udc00 2\ud83d\ude00</answer>")
    assert result == Answer(text="4\ufffd 2\ufffd\ufffd")
    result.model_dump_json().encode("utf-8")


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "highlight", "arguments": {"labels": ["a\\ud800", "\\uDC00b"]}}',
        json.dumps({"name": "highlight", "arguments": '{"labels": ["a\\ud800", "\\uDC00b"]}'}),
    ],
)
def test_lone_surrogate_escapes_in_json_become_replacement_characters(body):
    result = parse(f"<tool_call>{body}</tool_call>")
    assert result == ToolCall(name="highlight", arguments={"labels": ["a\ufffd", "\ufffdb"]})
    result.model_dump_json().encode("utf-8")


def test_surrogate_escapes_in_keys_and_nested_values_become_valid():
    nested = '[[[[["\\ud800"]]]]]'
    arguments = f'{{"labels": ["\\ud83d\\ude00"], "\\udfff": {nested}}}'
    body = f'{{"name": "highlight", "arguments": {arguments}}}'
    result = assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.INVALID_ARGUMENTS)
    assert result.message == "highlight: \ufffd: Extra inputs are not permitted"
    deep = "[" * 400 + '"\\ud800"' + "]" * 400
    body = f'{{"name": "highlight", "arguments": {{"labels": {deep}}}}}'
    assert_error(parse(f"<tool_call>{body}</tool_call>"), ParseErrorKind.INVALID_ARGUMENTS)


def test_control_characters_pass_through():
    text = "a\x00b\x01\x1b[31m\x7f"
    assert parse(f"<answer>{text}</answer>") == Answer(text=text.strip())
    call = ToolCall(name="highlight", arguments={"labels": [text]})
    assert parse(format_tool_call(call)) == call
