"""Speed of ToolUse-Chart-v0: oracle episodes against their Pillow floor, tools, the parser.

For each chart kind and difficulty, two benchmarks run on fresh tasks (never generated
before; the task and text-metric caches are cleared before each round, untimed):

- ``test_oracle_episode``: reset (which generates the task), the oracle's tool call
  (highlight or box at difficulty 0-1, zoom at 2-3), its answer;
- ``test_floor``: the bare Pillow work that episode contains: lay the chart out, rasterise
  it, and apply the same edit (the numpy tint/box/mask, or rasterising the zoom region).

``python benchmarks/report.py BENCH.json`` turns a ``--benchmark-json`` file into the
tables of BENCHMARKS.md (episode over floor, per kind and difficulty).
"""

import gymnasium as gym
import pytest

import iapo_bench  # noqa: F401  (registers the ids)
from iapo_bench.baselines import OracleAgent
from iapo_bench.envs import load_task
from iapo_bench.envs.chart.data import KINDS
from iapo_bench.envs.chart.layout import layout
from iapo_bench.fonts import text_bbox
from iapo_bench.scene import rasterize
from iapo_bench.tools import chart as chart_tools
from iapo_bench.tools import format_answer, format_tool_call, parse_action

ROUNDS = 25
CASES = [(kind, difficulty) for kind in KINDS for difficulty in (0, 1, 2, 3)]
IDS = [f"{kind}-d{difficulty}" for kind, difficulty in CASES]


def _cold() -> None:
    load_task.cache_clear()
    text_bbox.cache_clear()


@pytest.mark.parametrize(("kind", "difficulty"), CASES, ids=IDS)
def test_oracle_episode(benchmark, chart, fresh_seeds, kind, difficulty):
    env = gym.make("ToolUse-Chart-v0").unwrapped
    oracle = OracleAgent()
    rewards = []

    def setup():
        _cold()
        seed = fresh_seeds(KINDS.index(kind))
        return (chart.task_id("train", difficulty, seed),), {}

    def episode(task_id):
        obs, info = env.reset(options={"task_id": task_id})
        terminated = False
        while not terminated:
            obs, reward, terminated, _, info = env.step(oracle.act([obs], [info])[0])
        rewards.append(reward)

    benchmark.pedantic(episode, setup=setup, rounds=ROUNDS, iterations=1)
    assert rewards and all(r == 1.0 for r in rewards)


def _edit(task, call):
    """The pixel work of the oracle's call, without the tool wrapper."""
    if call.name == "zoom":
        box = chart_tools._clip(task, call.arguments["box"])
        return lambda scene, image: rasterize(scene, call.arguments["factor"], box.as_list())
    target = next(t for t, name in chart_tools.TARGETS.items() if f"_{name}_" in call.name)
    mode = call.name.rsplit("_", 1)[1]
    regions = {e.key: e.box for e in task.elements if e.kind == target}
    keys = call.arguments["labels"]
    return lambda scene, image: chart_tools._EDITS[mode](image, regions, keys)


@pytest.mark.parametrize(("kind", "difficulty"), CASES, ids=IDS)
def test_floor(benchmark, chart, fresh_seeds, kind, difficulty):
    # The floor's tasks are generated up front, not just before each round: rendering a task
    # right before timing its re-render would flatter the floor with warm caches.
    pool = []
    for _ in range(ROUNDS):
        task = chart.generate("train", difficulty, fresh_seeds(KINDS.index(kind)))
        pool.append(
            (dict(task.data), _edit(task, OracleAgent.tool_call(task, set(task.tool_names))))
        )

    def setup():
        _cold()
        return pool.pop(), {}

    def floor(data, edit):
        scene = layout(data, data["style"])[0]
        return edit(scene, rasterize(scene))

    benchmark.pedantic(floor, setup=setup, rounds=ROUNDS, iterations=1)


def _vertical_task(chart):
    return chart.generate("train", 1, 9)  # a vertical bar chart (kind = seed % 9 = 0)


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
    """One call of a tool on a typical request: two labels, or a 240x180 box at 2x."""
    task = _vertical_task(chart)
    tool = {t.name: t for t in chart.tools_for(task)}[tool_name]
    if tool_name.startswith("focus"):
        arguments = {"labels": list(task.data["categories"][:2])}
    elif tool_name == "zoom":
        arguments = {"box": [100, 60, 340, 240], "factor": 2.0}
    else:
        arguments = {"box": [100, 60, 340, 240]}
    result = benchmark(lambda: tool(arguments, task=task))
    assert result.ok


def test_parse_action(benchmark, chart):
    task = _vertical_task(chart)
    tools = chart.tools_for(task)
    call = OracleAgent.tool_call(task, set(task.tool_names))
    text = "I should look at the evidence first.\n" + format_tool_call(call)
    parsed = benchmark(lambda: parse_action(text, tools))
    assert parsed.name == call.name
    assert parse_action(format_answer("12"), tools).text == "12"
