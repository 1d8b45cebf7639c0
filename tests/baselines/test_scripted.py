import numpy as np
import pytest

from iapo_bench.baselines import AGENTS, NoToolAgent, OracleAgent, Policy, RandomAgent, make_agent
from iapo_bench.core import Box
from iapo_bench.envs import get_family, load_task
from iapo_bench.leaderboard import run_episodes, task_ids_for

ENV = "ToolUse-Chart-v0"


@pytest.fixture(scope="module")
def test_ids():
    return task_ids_for(ENV, "test")


@pytest.fixture(scope="module")
def scores(test_ids):
    out = {}
    for name in AGENTS:
        records = list(run_episodes(ENV, make_agent(name), test_ids))
        assert len(records) == len(test_ids) == 500
        out[name] = float(np.mean([r.score for r in records]))
    return out


def test_agents_are_policies():
    for name in AGENTS:
        assert isinstance(make_agent(name), Policy)


def test_unknown_agent_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown agent 'gpt'; known: oracle, no-tool, random"):
        make_agent("gpt")


def test_oracle_scores_at_least_099_on_500_test_episodes(scores):
    assert scores["oracle"] >= 0.99


def test_random_and_no_tool_are_far_below_the_oracle(scores):
    assert scores["random"] <= 0.25
    assert scores["no-tool"] <= 0.35
    assert scores["oracle"] - max(scores["random"], scores["no-tool"]) >= 0.6


def _evidence_boxes(task, kind):
    return [e.box for e in task.elements if e.kind == kind and e.key in task.evidence]


def test_oracle_tool_output_shows_the_evidence():
    family = get_family("chart")
    for seed in range(60):
        task = family.generate("train", seed % 3, seed)
        call = OracleAgent.tool_call(task, set(task.tool_names))
        assert call is not None
        result = family.tools_for(task)[[t.name for t in family.tools_for(task)].index(call.name)](
            call.arguments, task=task
        )
        assert result.ok, result.error
        if call.name == "zoom":
            # The zoom covers every evidence bar and value label, at twice the shown size.
            box = Box(**dict(zip(("x0", "y0", "x1", "y1"), call.arguments["box"], strict=True)))
            for kind in ("bar", "value_label"):
                for element_box in _evidence_boxes(task, kind):
                    assert box.contains(element_box)
            assert result.image.shape[:2] == (2 * box.height, 2 * box.width)
        else:
            # The highlight tints exactly the evidence regions.
            changed = np.any(result.image != task.image, axis=2)
            mask = np.zeros_like(changed)
            for region in _evidence_boxes(task, call.name.split("_")[2] + "_value"):
                mask[region.y0 : region.y1, region.x0 : region.x1] = True
            assert changed[mask].mean() > 0.99
            assert not changed[~mask].any()


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
