"""Tool-use process signals, on trajectories played in real envs and built by hand."""

import gymnasium as gym
import pytest

import iapo_bench.envs  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent
from iapo_bench.core import (
    ParseError,
    ParseErrorKind,
    ToolCall,
    ToolResult,
    Trajectory,
    Turn,
)
from iapo_bench.envs import load_task
from iapo_bench.rewards import process
from iapo_bench.tools import format_tool_call
from tests.rewards.cases import answered, make_task


def call_turn(ok: bool = True, name: str = "zoom", **arguments) -> Turn:
    result = ToolResult(text="done") if ok else ToolResult(text="", error="bad box")
    return Turn(text="call", action=ToolCall(name=name, arguments=arguments), result=result)


def error_turn(kind: ParseErrorKind) -> Turn:
    return Turn(text="??", action=ParseError(error=kind, message="no"))


def trajectory(*turns: Turn) -> Trajectory:
    return Trajectory(task_id="chart/v0/test/d0/1", turns=turns)


def test_format_validity_is_the_share_of_messages_that_parsed():
    t = trajectory(error_turn(ParseErrorKind.NO_ACTION), call_turn(), answered("1").turns[0])
    assert process.format_valid(t, make_task()) == pytest.approx(2 / 3)
    assert process.format_valid(trajectory(), make_task()) is None


def test_tool_call_and_success_rates():
    task = make_task()
    t = trajectory(call_turn(True), call_turn(False), answered("1").turns[0])
    assert process.tool_call(t, task) == 1.0
    assert process.tool_success(t, task) == 0.5
    assert process.tool_call(answered("1"), task) == 0.0
    assert process.tool_success(answered("1"), task) is None


def test_parse_errors_are_counted_in_total_and_by_kind():
    t = trajectory(
        error_turn(ParseErrorKind.MALFORMED_JSON),
        error_turn(ParseErrorKind.MALFORMED_JSON),
        error_turn(ParseErrorKind.UNKNOWN_TOOL),
    )
    assert process.parse_errors(t, make_task()) == 3.0
    counts = {name: f(t, make_task()) for name, f in process.PARSE_ERROR_REWARDS.items()}
    assert counts["parse_error_malformed_json"] == 2.0
    assert counts["parse_error_unknown_tool"] == 1.0
    assert counts["parse_error_no_action"] == 0.0
    assert process.turns(t, make_task()) == 3.0


def test_execution_penalty_never_makes_skipping_tools_the_safe_choice():
    task = make_task().model_copy(update={"tool_names": ("zoom",)})
    worked = trajectory(call_turn(True), answered("1").turns[0])
    failed = trajectory(call_turn(False), answered("1").turns[0])
    skipped = answered("1")
    assert process.execution_penalty(worked, task) == 0.0
    assert process.execution_penalty(failed, task) == -0.5
    assert process.execution_penalty(skipped, task) == -0.5  # no cheaper than failing
    no_tools = make_task()
    assert process.execution_penalty(skipped, no_tools) == 0.0
    assert process.execution_penalty(failed, task, penalty=1.0) == -1.0


def played(env_id: str, task_id: str, *messages: str):
    """The trajectory of ``messages`` played through the real env (parser, tools) on a task."""
    env = gym.make(env_id, max_turns=len(messages) + 1).unwrapped
    env.reset(options={"task_id": task_id})
    for message in messages:
        _, _, terminated, truncated, info = env.step(message)
    if not (terminated or truncated):
        _, _, _, _, info = env.step("<answer>?</answer>")
    return info["trajectory"]


def call(name: str, **arguments) -> str:
    return format_tool_call(ToolCall(name=name, arguments=arguments))


@pytest.mark.parametrize(
    ("env_id", "difficulty"),
    [
        ("ToolUse-Chart-v0", 1),
        ("ToolUse-Chart-v0", 2),
        ("ToolUse-OCR-v0", 2),
        ("ToolUse-ImageSearch-v0", 2),
    ],
)
def test_the_oracle_uses_the_right_tool_and_a_far_box_does_not(env_id, difficulty):
    env = gym.make(env_id, difficulty=difficulty).unwrapped
    oracle = OracleAgent()
    for seed in range(6):
        obs, info = env.reset(seed=seed)
        task = load_task(info["task_id"])
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(oracle.act([obs], [info])[0])
            done = terminated or truncated
        assert process.right_tool(info["trajectory"], task) == 1.0, task.id
        if env_id != "ToolUse-ImageSearch-v0":
            far = played(env_id, task.id, call("zoom", box=[0, 0, 4, 4]))
            assert far.tool_calls[0].result.ok, task.id
            assert process.right_tool(far, task) == 0.0, task.id


def test_right_tool_accepts_many_valid_calls_and_abstains_without_evidence():
    task = load_task("chart/v0/train/d1/9")  # a vertical bar chart
    label = task.evidence[0]
    for name in ("focus_on_x_values_with_mask", "focus_on_x_values_with_highlight"):
        # The tool resolves labels forgiving case and spaces; so does the reward.
        t = played("ToolUse-Chart-v0", task.id, call(name, labels=[f" {label.upper()} "]))
        assert process.right_tool(t, task) == 1.0
    element = next(e for e in task.elements if e.key == label)
    b = element.box
    nudged = [b.x0 - 3, b.y0 - 2, b.x1 + 2, b.y1 + 4]
    for name in ("zoom", "crop"):
        assert process.right_tool(played("ToolUse-Chart-v0", task.id, call(name, box=nudged)), task)
    failed = played("ToolUse-Chart-v0", task.id, call("zoom", box=[b.x0, b.y0, b.x0 + 2, b.y0 + 2]))
    assert not failed.tool_calls[0].result.ok and process.right_tool(failed, task) == 0.0
    assert process.right_tool(answered("1"), make_task()) is None


def test_a_whole_page_ocr_call_looks_at_the_evidence():
    task = load_task("ocr/v0/train/d2/4")
    whole = played("ToolUse-OCR-v0", task.id, call("ocr"))  # no box: the whole image
    assert whole.tool_calls[0].action.arguments == {"box": None}  # as validation fills it
    assert process.right_tool(whole, task) == 1.0
    corner = played("ToolUse-OCR-v0", task.id, call("ocr", box=[0, 0, 6, 6]))
    assert process.right_tool(corner, task) == 0.0


def test_search_by_words_looks_at_no_region_but_opening_the_item_counts():
    task = load_task("search/v0/train/d2/5")
    item = task.evidence[0]
    words = played("ToolUse-ImageSearch-v0", task.id, call("search_images", query="red poster"))
    assert words.tool_calls[0].result.ok and process.right_tool(words, task) == 0.0
    opened = played("ToolUse-ImageSearch-v0", task.id, call("open_item", item_id=item.lower()))
    assert process.right_tool(opened, task) == 1.0
