"""Time of ``parse_action`` on degenerate text, per character, against a bare linear pass.

A policy under RL training emits degenerate messages millions of times: runs of backticks,
whitespace inside a fence, thousands of unclosed tags, kilobytes of repetition. Each shape is
parsed at 2 KB, 8 KB and 32 KB (the env's ``max_action_length``), with the chart family's
real tools.

- ``test_parse_degenerate_text``: the parse. ``extra_info``: ``ns_per_char`` (median time
  over length), ``floor_ns_per_char`` (``text.count("<")``, a bare C pass over the same
  string, its best time in the same run) and ``ratio`` (parse over floor). Linear time shows as a
  ``ns_per_char`` that stays flat from 2 KB to 32 KB; the earlier regex parser's grew with the
  length (cubic on a fence of whitespace, quadratic on unclosed tags).
"""

import json
import timeit

import pytest

from iapo_bench.core import Answer, ParseError, ParseErrorKind, ToolCall
from iapo_bench.envs import get_family
from iapo_bench.tools import parse_action

TOOLS = get_family("chart").tools
CALL = json.dumps({"name": "zoom", "arguments": {"box": [10, 10, 90, 60], "factor": 2}})
SIZES = {"2KB": 2048, "8KB": 8192, "32KB": 32_768}


def _fill(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def _shape(name: str, size: int) -> str:
    """A message of ``size`` characters of the named degenerate shape."""
    if name == "backticks":  # inside a call: every suffix looks like a fence's end
        return "<tool_call>" + _fill("`", size - 23) + "</tool_call>"
    if name == "fence_whitespace":  # the lazy fence pattern's worst case
        return "<tool_call>```" + _fill(" ", size - 27) + "x</tool_call>"
    if name == "backticks_and_whitespace":
        return "<tool_call>" + _fill("``` \n", size - 23) + "</tool_call>"
    if name == "unclosed_tags":
        return _fill("<tool_call>", size)
    if name == "unclosed_answers":
        return _fill("<answer>", size)
    if name == "repetition":  # a phrase with an opening tag and half a call, over and over
        return _fill('Let me zoom in. <tool_call> {"name": "zoom", ', size)
    if name == "padded_call":  # a valid call in the middle of kilobytes of reasoning
        pad = _fill("The bar for Peru looks tallest, but let me check. ", (size - 80) // 2)
        return f"{pad}<tool_call>\n{CALL}\n</tool_call>{pad}"
    raise ValueError(name)


EXPECTED = {
    "backticks": ParseErrorKind.MALFORMED_JSON,
    "fence_whitespace": ParseErrorKind.MALFORMED_JSON,
    "backticks_and_whitespace": ParseErrorKind.MALFORMED_JSON,
    "unclosed_tags": ParseErrorKind.NO_ACTION,
    "unclosed_answers": ParseErrorKind.NO_ACTION,
    "repetition": ParseErrorKind.NO_ACTION,
    "padded_call": ToolCall,
}


def _check(name: str, result: ToolCall | Answer | ParseError) -> None:
    expected = EXPECTED[name]
    if isinstance(expected, ParseErrorKind):
        assert isinstance(result, ParseError) and result.error is expected, result
    else:
        assert isinstance(result, expected), result


def _floor_seconds(text: str) -> float:
    """The time of a bare linear pass over ``text``: the best of 7 rounds of 200 (a floor)."""
    return min(timeit.repeat(lambda: text.count("<"), number=200, repeat=7)) / 200


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("shape", list(EXPECTED))
def test_parse_degenerate_text(benchmark, shape, size):
    text = _shape(shape, SIZES[size])
    assert len(text) == SIZES[size] or shape == "padded_call"
    result = benchmark(parse_action, text, TOOLS)
    _check(shape, result)
    stats = benchmark.stats
    if stats is not None:
        median = stats.stats.median
        floor = _floor_seconds(text)
        benchmark.extra_info["ns_per_char"] = 1e9 * median / len(text)
        benchmark.extra_info["floor_ns_per_char"] = 1e9 * floor / len(text)
        benchmark.extra_info["ratio"] = median / floor
