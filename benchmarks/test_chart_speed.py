"""Speed of ToolUse-Chart-v0: oracle episodes against their Pillow floor, tools, the parser.

For each chart kind and difficulty, ``test_oracle_episode`` times episodes on fresh tasks
(never generated before; the task and text-metric caches are cleared before each round,
untimed): reset (which generates the task), the oracle's tool call (highlight or box where
the evidence is legible, zoom on fine print), its answer. It then pairs each of a second set
of episodes with its floor: the bare Pillow work the episode contains (lay the chart out,
rasterise it, apply the same edit: the numpy tint/box/mask, or rasterising the zoom region),
and records the median floor and the median per-task ratio in ``extra_info``.

``python benchmarks/report.py BENCH.json`` turns a ``--benchmark-json`` file into the
tables of BENCHMARKS.md (episode over floor, per kind and difficulty).
"""

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
from iapo_bench.tools.image import clip_box

ROUNDS = 25
CASES = [(kind, difficulty) for kind in KINDS for difficulty in (0, 1, 2, 3)]
IDS = [f"{kind}-d{difficulty}" for kind, difficulty in CASES]


def _cold() -> None:
    load_task.cache_clear()
    text_bbox.cache_clear()


def _edit(task, call):
    """The pixel work of the oracle's call, without the tool wrapper."""
    if call.name == "zoom":
        box = clip_box(task, call.arguments["box"])
        return lambda scene, image: rasterize(scene, call.arguments["factor"], box.as_list())
    target = next(t for t, name in chart_tools.TARGETS.items() if f"_{name}_" in call.name)
    mode = call.name.rsplit("_", 1)[1]
    regions = {e.key: e.box for e in task.elements if e.kind == target}
    keys = call.arguments["labels"]
    return lambda scene, image: chart_tools._EDITS[mode](image, regions, keys)


def _floor(data, edit):
    """The bare Pillow work of an episode: lay the chart out, rasterise it, apply the edit."""
    scene = layout(data, data["style"])[0]
    return edit(scene, rasterize(scene))


@pytest.mark.parametrize(("kind", "difficulty"), CASES, ids=IDS)
def test_oracle_episode(benchmark, oracle_episodes, chart, fresh_seeds, kind, difficulty):
    """Oracle episodes on fresh tasks, each paired with the floor of the same task."""

    def floor(task):
        edit = _edit(task, OracleAgent.tool_call(task, set(task.tool_names)))
        data = dict(task.data)
        _cold()
        return lambda: _floor(data, edit)

    oracle_episodes(
        benchmark,
        "ToolUse-Chart-v0",
        lambda: chart.task_id("train", difficulty, fresh_seeds(KINDS.index(kind))),
        floor,
        cold=_cold,
        rounds=ROUNDS,
    )


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
