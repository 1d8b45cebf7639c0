"""Speed of ToolUse-Chart-v0: episodes, tools, the parser, and the bare Pillow floor.

Each episode benchmark has a floor benchmark of the Pillow work it contains (render, plus
the edit), so BENCHMARKS.md can record ratios that travel between machines.
"""

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent
from iapo_bench.envs.chart.family import chart_spec
from iapo_bench.envs.chart.render import render_bar_chart
from iapo_bench.tools import format_answer, format_tool_call, parse_action


def _oracle_episode(env, chart, split, difficulty, seed):
    task_id = chart.task_id(split, difficulty, seed)
    obs, info = env.reset(options={"task_id": task_id})
    oracle = OracleAgent()
    terminated = False
    while not terminated:
        obs, reward, terminated, _, info = env.step(oracle.act([obs], [info])[0])
    return reward


@pytest.mark.parametrize("difficulty", [0, 1, 2], ids=lambda d: f"d{d}")
def test_oracle_episode(benchmark, chart, fresh_seeds, difficulty):
    """reset (generating a new task) + one tool call (highlight; zoom at d2) + answer."""
    env = gym.make("ToolUse-Chart-v0").unwrapped
    reward = benchmark(lambda: _oracle_episode(env, chart, "train", difficulty, fresh_seeds()))
    assert reward == 1.0


@pytest.mark.parametrize("difficulty", [0, 1, 2], ids=lambda d: f"d{d}")
def test_floor_render(benchmark, chart, fresh_seeds, difficulty):
    """The bare Pillow render an episode contains (the floor of the episode ratio)."""
    tasks = [chart.generate("train", difficulty, fresh_seeds()) for _ in range(16)]
    specs = iter([chart_spec(dict(t.data)) for t in tasks] * 1000)
    benchmark(lambda: render_bar_chart(next(specs)))


@pytest.mark.parametrize(
    "tool_name",
    [
        "focus_on_x_values_with_mask",
        "focus_on_x_values_with_draw",
        "focus_on_x_values_with_highlight",
        "crop",
        "zoom",
    ],
)
def test_tool_call(benchmark, chart, tool_name):
    task = next(
        t
        for t in (chart.generate("train", 1, s) for s in range(50))
        if t.data["orientation"] == "vertical"
    )
    tool = {t.name: t for t in chart.tools_for(task)}[tool_name]
    if tool_name.startswith("focus"):
        arguments = {"labels": list(task.data["categories"][:2])}
    else:
        arguments = (
            {"box": [100, 60, 340, 240], "factor": 2.0}
            if tool_name == "zoom"
            else {"box": [100, 60, 340, 240]}
        )
    result = benchmark(lambda: tool(arguments, task=task))
    assert result.ok


def test_floor_zoom_resize(benchmark, chart):
    """A bare crop + bicubic 2x resize of the same region (the floor of zoom)."""
    task = chart.generate("train", 1, 0)
    source = task.source_image
    benchmark(
        lambda: np.asarray(
            Image.fromarray(source[120:480, 200:680]).resize((480, 360), Image.Resampling.BICUBIC)
        )
    )


def test_parse_action(benchmark, chart):
    task = chart.generate("train", 1, 0)
    tools = chart.tools_for(task)
    call = OracleAgent.tool_call(task, set(task.tool_names))
    text = "I should look at the evidence first.\n" + format_tool_call(call)
    assert benchmark(lambda: parse_action(text, tools)) == call.model_copy(
        update={
            "arguments": tools[[t.name for t in tools].index(call.name)].validate(call.arguments)
        }
    )
    assert parse_action(format_answer("12"), tools).text == "12"
