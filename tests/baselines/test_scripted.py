import numpy as np
import pytest

from iapo_bench.baselines import AGENTS, NoToolAgent, OracleAgent, Policy, RandomAgent, make_agent
from iapo_bench.core import FOCUS_REGION_KINDS, Box, evidence_elements
from iapo_bench.envs import get_family, load_task
from iapo_bench.envs.chart.data import KINDS
from iapo_bench.leaderboard import run_episodes, task_ids_for
from iapo_bench.tools.chart import BOX_WIDTH, TARGETS

ENV = "ToolUse-Chart-v0"


@pytest.fixture(scope="module")
def test_ids():
    return task_ids_for(ENV, "test")


@pytest.fixture(scope="module")
def scores(test_ids):
    out = {}
    for name in ("oracle", "no-tool", "random"):  # the heuristic reads with OCR: its own tests
        records = list(run_episodes(ENV, make_agent(name), test_ids))
        assert len(records) == len(test_ids) == 500
        out[name] = float(np.mean([r.score for r in records]))
    return out


def test_agents_are_policies():
    for name in AGENTS:
        assert isinstance(make_agent(name), Policy)


def test_unknown_agent_is_a_clear_error():
    with pytest.raises(
        ValueError, match="unknown agent 'gpt'; known: oracle, heuristic, no-tool, random, tiny-vlm"
    ):
        make_agent("gpt")


def test_oracle_scores_exactly_1_on_the_500_chart_test_episodes(scores):
    assert scores["oracle"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["ToolUse-OCR-v0", "ToolUse-ImageSearch-v0"])
def test_oracle_scores_exactly_1_on_every_frozen_list(env_id):
    records = list(run_episodes(env_id, make_agent("oracle"), task_ids_for(env_id, "test")))
    assert len(records) == 500
    assert [r.task_id for r in records if r.score != 1.0] == []


def test_random_and_no_tool_are_far_below_the_oracle(scores):
    assert scores["random"] <= 0.25
    assert scores["no-tool"] <= 0.35
    assert scores["oracle"] - max(scores["random"], scores["no-tool"]) >= 0.6


_REGION_KINDS = {plural: kind for kind, plural in TARGETS.items()}  # "x_values": "x_value"


def _named_regions(task, call):
    """The focus regions a focus call names, and the mode it edits them with."""
    target, mode = call.name.removeprefix("focus_on_").split("_with_")
    kind = _REGION_KINDS[target]
    labels = call.arguments["labels"]
    regions = [e.box for e in task.elements if e.kind == kind and e.key in labels]
    assert len(regions) == len(labels)
    return kind, mode, regions


def test_oracle_tool_output_shows_the_evidence():
    family = get_family("chart")
    seen = set()
    for kind_index, kind in enumerate(KINDS):
        for difficulty in family.difficulties:
            for seed in range(kind_index, kind_index + 27, len(KINDS)):
                task = family.generate("train", difficulty, seed)
                assert task.data["kind"] == kind
                call = OracleAgent.tool_call(task, set(task.tool_names))
                assert call is not None
                tools = {t.name: t for t in family.tools_for(task)}
                result = tools[call.name](call.arguments, task=task)
                assert result.ok, result.error
                has_focus = any(name.startswith("focus_on_") for name in task.tool_names)
                # Evidence text under 7 pixels is fine print; from difficulty 2 it always is.
                fine_print = any(
                    e.text and min(e.box.width, e.box.height) < 7 for e in evidence_elements(task)
                )
                assert fine_print or difficulty < 2, task.id
                # Fine print (or a chart without focus tools) is zoomed; otherwise it focuses.
                assert (call.name == "zoom") == (fine_print or not has_focus), task.id
                if call.name == "zoom":
                    seen.add("zoom")
                    # The zoom covers every evidence mark and label, enlarged by its factor.
                    box = Box(*call.arguments["box"])
                    factor = call.arguments["factor"]
                    height, width = task.image.shape[:2]
                    assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height
                    evidence = evidence_elements(task)
                    assert evidence, task.id
                    for element in evidence:
                        assert box.contains(element.box), (task.id, element)
                    assert result.image.shape[:2] == (
                        round(box.height * factor),
                        round(box.width * factor),
                    )
                    continue
                region_kind, mode, regions = _named_regions(task, call)
                seen.add(mode)
                # The focus names the evidence: the question's column, else its categories.
                labels = call.arguments["labels"]
                if region_kind == "column":
                    assert labels == [task.data["question_args"]["series"]]
                else:
                    assert set(labels) == set(task.evidence), task.id
                # Boxes when the evidence is every category (a tint there narrows nothing).
                every = len(regions) == sum(e.kind == region_kind for e in task.elements)
                assert mode == ("draw" if every else "highlight"), task.id
                changed = np.any(result.image != task.image, axis=2)
                mask = np.zeros_like(changed)
                for region in regions:
                    mask[region.y0 : region.y1, region.x0 : region.x1] = True
                    if mode == "draw":  # only the border band of each region
                        w = BOX_WIDTH
                        mask[region.y0 + w : region.y1 - w, region.x0 + w : region.x1 - w] = False
                # A highlight tints exactly the named regions; a box is drawn on their borders.
                assert changed[mask].mean() > 0.99, task.id
                assert not changed[~mask].any(), task.id
    assert seen == {"zoom", "highlight", "draw"}


def test_no_tool_agent_answers_at_once_and_picks_a_named_option():
    info = {
        "task_id": "chart/v0/train/d1/5",
        "turn": 0,
        "messages": [
            {"role": "system", "content": ""},
            {
                "role": "user",
                "content": [
                    {"type": "image"},
                    {"type": "text", "text": "Which city has more visitors: Lyon or Cork?"},
                ],
            },
        ],
    }
    assert NoToolAgent().act([{}], [info]) == ["<answer>Lyon</answer>"]


def test_random_agent_is_seeded_per_task_and_turn():
    task = load_task("chart/v0/train/d1/7")
    obs = {"images": (np.array(task.image),)}
    info = {
        "task_id": task.id,
        "turn": 0,
        "tools": [t.schema for t in get_family("chart").tools_for(task)],
        "messages": [{}, {"content": [{"type": "text", "text": task.question}]}],
    }
    first = [RandomAgent(seed=1).act([obs], [info | {"turn": t}])[0] for t in range(5)]
    again = [RandomAgent(seed=1).act([obs], [info | {"turn": t}])[0] for t in range(5)]
    other = [RandomAgent(seed=2).act([obs], [info | {"turn": t}])[0] for t in range(5)]
    assert first == again
    assert first != other


def test_the_focus_tools_targets_are_the_cores_focus_region_kinds():
    assert set(TARGETS) == FOCUS_REGION_KINDS
