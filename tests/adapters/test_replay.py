"""The adapters' scoring: a conversation's assistant messages replayed through a fresh episode."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import iapo_bench.adapters
from iapo_bench.adapters._replay import Score, actions, make_env, replay
from iapo_bench.core import ToolCall
from iapo_bench.envs import get_family, load_task
from iapo_bench.tools.parser import format_tool_call

RUBRIC = "exact_match:1,parse_error_several_actions:0,parse_errors:0"
TASK = "ocr/v0/validation/d0/1000000000"


def zoom_call(box: list[int]) -> dict:
    return {"type": "function", "function": {"name": "zoom", "arguments": {"box": box}}}


@pytest.fixture
def env():
    env = make_env("ToolUse-OCR-v0", TASK, max_turns=3, rubric=RUBRIC)
    yield env
    env.close()


def test_actions_read_each_assistant_message_as_one_action():
    texts = actions(
        [
            {"role": "assistant", "content": "Look.", "tool_calls": [zoom_call([0, 0, 9, 9])]},
            {"role": "tool", "name": "zoom", "content": [{"type": "text", "text": "Zoomed."}]},
            {"role": "assistant", "content": "", "tool_calls": [zoom_call([0, 0, 9, 9])] * 2},
            {"role": "user", "content": "The image returned by zoom:"},
            {"role": "assistant", "content": [{"type": "text", "text": "<answer>7</answer>"}]},
        ]
    )
    one = format_tool_call(ToolCall(name="zoom", arguments={"box": [0, 0, 9, 9]}))
    assert texts == ["Look.\n" + one, one + "\n" + one, "<answer>7</answer>"]


def test_a_message_with_two_calls_is_one_turn_and_one_parse_error(env):
    answer = load_task(TASK).answer
    two = {"role": "assistant", "content": "", "tool_calls": [zoom_call([0, 0, 40, 40])] * 2}
    answered = {"role": "assistant", "content": f"<answer>{answer}</answer>"}
    score = replay(env, TASK, actions([two, answered]))
    assert isinstance(score, Score) and score.total == 1.0
    assert score.components["parse_error_several_actions"] == 1.0
    turns = env.unwrapped.trajectory.turns
    assert len(turns) == 2 and turns[0].action.error.value == "several_actions"


def test_the_replay_is_a_fresh_episode_and_ignores_messages_past_its_end(env):
    answer = load_task(TASK).answer
    env.reset(options={"task_id": TASK})
    env.step("no action here")  # what the env played before does not count
    texts = [f"<answer>{answer}</answer>", "<answer>wrong</answer>"]
    total, components = replay(env, TASK, texts)
    assert total == 1.0 and components["parse_errors"] == 0.0
    assert len(env.unwrapped.trajectory.turns) == 1


def test_running_out_of_messages_or_turns_scores_a_truncated_episode(env):
    call = format_tool_call(ToolCall(name="zoom", arguments={"box": [0, 0, 40, 40]}))
    total, components = replay(env, TASK, [call])
    assert total == 0.0 and components["exact_match"] == 0.0
    assert env.unwrapped.trajectory.turns[0].result.error is None  # the call ran
    answer = load_task(TASK).answer
    late = [call, call, call, f"<answer>{answer}</answer>"]  # the answer is past max_turns
    assert replay(env, TASK, late).total == 0.0
    assert replay(env, TASK, []).total == 0.0


def test_a_file_task_plays_in_its_sources_env(tmp_path, monkeypatch):
    from iapo_bench.envs import open_source
    from tests.envs.public_formats import write_chartqa

    monkeypatch.setenv("IAPO_BENCH_CACHE", str(tmp_path / "cache"))
    task_id = open_source(f"chartqa:{write_chartqa(tmp_path)}").task_id(0)
    env = make_env("ToolUse-Chart-v0", task_id, max_turns=2, rubric=None)
    try:
        assert env.unwrapped.source is not None
        assert replay(env, task_id, ["<answer>50</answer>"]).total == 1.0  # ChartQA's rubric
        assert replay(env, task_id, ["<answer>40</answer>"]).total == 0.0
    finally:
        env.close()


# -- the adapters' imports ---------------------------------------------------------------------

ADAPTERS = Path(iapo_bench.adapters.__file__).parent
ALLOWED = ("iapo_bench.adapters", "iapo_bench.envs", "iapo_bench.models", "iapo_bench.rewards",
           "iapo_bench.tools", "iapo_bench.core", "iapo_bench.chat", "iapo_bench.wire")  # fmt: skip


def test_adapters_import_envs_models_and_the_layers_below_only():
    """DESIGN: adapters use envs and models; nothing sideways (baselines, train, leaderboard)."""
    for path in sorted(ADAPTERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):  # function-local imports too
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name == "iapo_bench" or name.startswith("iapo_bench."):
                    assert name.startswith(ALLOWED), f"{path.name} imports {name}"


def test_the_wire_format_moved_down_and_its_old_paths_still_import():
    from iapo_bench import wire
    from iapo_bench.baselines import endpoint
    from iapo_bench.baselines import wire as old

    for name in wire.__all__:
        assert getattr(old, name) is getattr(wire, name)
    for name in ("request_messages", "action_from_reply", "image_data_url", "ToolImages"):
        assert getattr(endpoint, name) is getattr(wire, name)


def test_make_env_refuses_a_task_of_another_family():
    env = make_env("ToolUse-OCR-v0", TASK, max_turns=2, rubric=None)
    try:
        chart = get_family("chart").task_ids("validation", 1)[0]
        with pytest.raises(ValueError, match="family"):
            replay(env, chart, [])
    finally:
        env.close()
