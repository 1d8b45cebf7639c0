from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

from iapo_bench.baselines import make_agent
from iapo_bench.baselines.blind import Blind


class Recorder:
    name = "recorder"
    settings: ClassVar[dict] = {"temperature": 0}

    def act(self, observations, infos):
        self.seen = observations
        return ["<answer>A</answer>"] * len(observations)


def test_a_blind_policy_sees_white_images_of_the_same_size():
    env = gym.make("ToolUse-Chart-v0")
    obs, info = env.reset(seed=2)
    inner = Recorder()
    blind = Blind(inner)
    assert blind.act([obs], [info]) == ["<answer>A</answer>"]
    (seen,) = inner.seen
    assert seen["text"] == obs["text"]
    assert [i.shape for i in seen["images"]] == [i.shape for i in obs["images"]]
    assert all((i == 255).all() for i in seen["images"])
    assert not (obs["images"][0] == 255).all()  # the caller's observation is untouched
    assert blind.name == "blind:recorder" and blind.settings["images"] == "blanked"


def test_blind_specs_name_any_agent():
    assert make_agent("blind:random").name == "blind:random"
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        make_agent("blind:nope")
    with pytest.raises(ValueError, match="name the agent to blind"):
        make_agent("blind:")


def test_blind_bars_policies_cannot_tell_the_tied_bars_apart():
    # On bars tasks an image-reading policy scores better than its blind self: a pixel reader
    # that names the tallest bar as shown, blind, sees all bars alike (white).
    class Tallest:
        name = "tallest"

        def act(self, observations, infos):
            out = []
            for obs in observations:
                image = obs["images"][0]
                coloured = (image != 255).any(axis=-1)[:50]
                # Bars are runs of coloured columns in the row above the axis, lettered from
                # the left: the tallest shown (the first of the tied pair) is the answer.
                row = coloured[49].astype(int)
                starts = np.flatnonzero(np.diff(np.concatenate([[0], row])) == 1)
                tallest = int(np.argmax(coloured.sum(axis=0)))
                index = max(int((starts <= tallest).sum()) - 1, 0)  # blank: a guess of A
                out.append(f"<answer>{'ABCDE'[index]}</answer>")
            return out

    from iapo_bench.leaderboard import run_episodes, task_ids_for

    ids = task_ids_for("ToolUse-Bars-v0", "validation", limit=60)
    seeing = np.mean([r.score for r in run_episodes("ToolUse-Bars-v0", Tallest(), ids)])
    blind = np.mean([r.score for r in run_episodes("ToolUse-Bars-v0", Blind(Tallest()), ids)])
    assert seeing > blind + 0.15
