"""ToolUse-Bars-v0: the shown image cannot tell the tied bars apart; the compare tool can."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from iapo_bench.baselines import OracleAgent
from iapo_bench.envs import get_family, load_task
from iapo_bench.envs.bars.family import BASELINE, render_bars
from iapo_bench.leaderboard import run_episodes, task_ids_for
from iapo_bench.tools.bars import MAGNIFICATION, WIDEN, WINDOW, compare

FAMILY = get_family("bars")
TASKS = [FAMILY.generate("validation", d, 1_000_000_000 + s) for d in (0, 1, 2) for s in range(40)]


def test_each_level_has_its_count_of_bars_and_two_tied_tallest():
    for task in TASKS:
        heights = task.data["heights"]
        assert len(heights) == 3 + task.difficulty == len(task.data["letters"])
        tied = [task.data["letters"].index(k) for k in task.evidence]
        shown = [round(h) for h in heights]
        assert shown[tied[0]] == shown[tied[1]] == max(shown)
        assert abs(heights[tied[0]] - heights[tied[1]]) == 0.75
        others = [s for i, s in enumerate(shown) if i not in tied]
        assert max(others) <= 0.6 * max(shown)
        assert task.answer == task.data["letters"][max(tied, key=lambda i: heights[i])]


def test_the_shown_image_does_not_depend_on_which_tied_bar_is_taller():
    # The proof that the tool is needed: swap the tied bars' true heights, which flips the
    # answer, and the image as shown is byte for byte the same.
    for task in TASKS:
        heights = list(task.data["heights"])
        a, b = (task.data["letters"].index(k) for k in task.evidence)
        heights[a], heights[b] = heights[b], heights[a]
        colours = [tuple(c) for c in task.data["colours"]]
        swapped = render_bars([float(round(h)) for h in heights], colours)
        assert np.array_equal(swapped, task.image)


def column_top(image: np.ndarray, task, letter: str) -> int:
    """The first row of a bar's place in the tool's image that holds colour, or the height."""
    box = task.elements[task.data["letters"].index(letter)].box
    column = image[:, (box.x0 + box.x1) // 2 * WIDEN]
    coloured = np.flatnonzero((column != 255).any(axis=-1))
    return int(coloured[0]) if len(coloured) else image.shape[0]


def test_compare_shows_the_taller_tied_bar_in_its_place_by_eighteen_rows():
    for task in TASKS:
        for order in (task.evidence, task.evidence[::-1]):  # the order named does not matter
            result = compare({"bars": list(order)}, task=task)
            assert result.ok and result.focus.keys == order
            assert result.image.shape == (WINDOW * MAGNIFICATION, 56 * WIDEN, 3)
            tops = {k: column_top(result.image, task, k) for k in order}
            assert abs(tops[order[0]] - tops[order[1]]) == 18
            assert min(tops, key=tops.get) == task.answer
            others = [k for k in task.data["letters"] if k not in order]
            assert all(column_top(result.image, task, k) == result.image.shape[0] for k in others)


def test_compare_against_a_short_bar_leaves_its_place_empty():
    task = TASKS[5]
    short = next(k for k in task.data["letters"] if k not in task.evidence)
    result = compare({"bars": [task.answer, short]}, task=task)
    assert column_top(result.image, task, short) == WINDOW * MAGNIFICATION
    assert column_top(result.image, task, task.answer) < WINDOW * MAGNIFICATION


@pytest.mark.parametrize(
    ("bars", "error"),
    [(["A", "A"], "two different bars"), (["A", "Z"], "no bar 'Z'"), (["a", "b"], None)],
)
def test_compare_checks_its_arguments(bars, error):
    result = compare({"bars": bars}, task=TASKS[0])
    assert result.error == error or (error and error in result.error)


def test_the_question_does_not_say_which_bars_are_tied():
    # Every question of a level is the same text: nothing in it says which bars are tied.
    for level in (0, 1, 2):
        questions = {t.question for t in TASKS if t.difficulty == level}
        assert len(questions) == 1


def test_the_oracle_scores_exactly_one_on_the_frozen_list():
    ids = task_ids_for("ToolUse-Bars-v0", "test")
    records = list(run_episodes("ToolUse-Bars-v0", OracleAgent(), ids))
    assert len(records) == 500 and all(r.score == 1.0 for r in records)
    assert all(r.tool_calls == 1 for r in records)


def test_the_frozen_list_matches_a_fresh_freeze():
    assert FAMILY.freeze_test_list() == FAMILY.frozen_test_list()


def test_an_episode_through_the_env():
    env = gym.make("ToolUse-Bars-v0", difficulty=1)
    obs, info = env.reset(seed=4)
    assert obs["images"][0].shape == (56, 56, 3) and [
        t["function"]["name"] for t in info["tools"]
    ] == ["compare"]
    task = load_task(info["task_id"])
    call = OracleAgent().act([obs], [info])[0]
    obs, _, _, _, info = env.step(call)
    assert len(obs["images"]) == 2
    _, reward, terminated, _, info = env.step(f"<answer>{task.answer}</answer>")
    assert terminated and reward == 1.0
    assert dataclasses.is_dataclass(task.elements[0]) and task.elements[0].box.y1 == BASELINE
