"""Tests of ``ToolUseEnv`` (iapo_bench/envs/env.py) on the registered families."""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import iapo_bench.envs
from iapo_bench.baselines import OracleAgent
from iapo_bench.core import (
    AnswerType,
    Box,
    ParseError,
    ParseErrorKind,
    Task,
    ToolCall,
    ToolResult,
    Trajectory,
)
from iapo_bench.envs import SPLIT_SEEDS, ToolUseEnv, env_ids, load_task, parse_task_id
from iapo_bench.envs import family as family_module
from iapo_bench.envs.chart.data import KINDS
from iapo_bench.envs.chart.family import ChartFamily
from iapo_bench.envs.env import MAX_IMAGE_SIDE, MAX_TOOL_TEXT_LENGTH
from iapo_bench.envs.spaces import ToolUseObservation, UnicodeText
from iapo_bench.tools import tool as tool_decorator
from iapo_bench.tools.chart import CHART_TOOLS, TARGETS
from iapo_bench.tools.parser import MAX_ERROR_MESSAGE_LENGTH, format_answer, format_tool_call

ENV_ID = "ToolUse-Chart-v0"
HIDDEN_KEYS = {"answer", "evidence", "elements", "source_image", "data"}


def make(**kwargs: Any) -> ToolUseEnv:
    """The bare env behind ``gym.make`` (no passive checker, no order enforcing)."""
    env = gym.make(ENV_ID, **kwargs).unwrapped
    assert isinstance(env, ToolUseEnv)
    return env


def call(name: str, **arguments: Any) -> str:
    return format_tool_call(ToolCall(name=name, arguments=arguments))


def focus_call(task: Task, mode: str = "highlight") -> str:
    """What an oracle would call: a focus tool of the chart's own target on the evidence.

    The evidence is categories: x values, y values, or a table's rows (its first target).
    """
    names = [n for n in task.tool_names if n.endswith(f"_with_{mode}")]
    assert names, f"{task.id} ({task.data['kind']}) has no focus tools"
    return call(names[0], labels=list(task.evidence))


def evidence_call(task: Task, avoid: str | None = None) -> str:
    """A call that shows the evidence: a focus highlight, or a zoom where none applies (pie).

    With ``avoid``, the zoom box is widened until neither the call nor the tool's reply (the
    box and the output size, in digits) happens to contain that string.
    """
    if any(n.startswith("focus_on_") for n in task.tool_names):
        return focus_call(task)
    boxes = [e.box for e in task.elements if e.key in task.evidence and e.kind not in TARGETS]
    evidence = functools.reduce(Box.union, boxes)
    height, width = task.image.shape[:2]
    zoom = {t.name: t for t in CHART_TOOLS}["zoom"]
    for grow in range(40):
        box = [
            max(0, evidence.x0 - grow),
            max(0, evidence.y0 - grow),
            min(width, evidence.x1 + grow),
            min(height, evidence.y1 + grow),
        ]
        action = call("zoom", box=box, factor=2)
        if avoid is None or avoid not in action + zoom({"box": box}, task=task).text:
            return action
    raise AssertionError(f"no zoom box around the evidence of {task.id} avoids {avoid!r}")


def kind_seed(kind: str, split: str = "train", nth: int = 0) -> int:
    """The ``nth`` seed index of ``split`` whose task is of chart ``kind``."""
    start = SPLIT_SEEDS[split].start
    return (KINDS.index(kind) - start) % len(KINDS) + nth * len(KINDS)


def image_bytes(obs: dict[str, Any]) -> list[bytes]:
    return [repr(i.shape).encode() + i.tobytes() for i in obs["images"]]


# --- gymnasium's checker, registration, make and make_vec ----------------------------------


def test_env_ids_are_registered() -> None:
    assert ENV_ID in env_ids()
    for env_id in env_ids():
        assert env_id in gym.registry
        assert gym.spec(env_id).entry_point == "iapo_bench.envs.env:ToolUseEnv"


def _check_env_cases() -> Iterator[tuple[str, int, str, str | None]]:
    for env_id in env_ids():
        family = iapo_bench.envs.family_for_env_id(env_id)
        for difficulty in family.difficulties:
            for split in ("train", "test"):
                yield env_id, difficulty, split, None
        yield env_id, family.default_difficulty, "validation", "rgb_array"
        yield env_id, family.default_difficulty, "train", "ansi"


@pytest.mark.parametrize("env_id, difficulty, split, render_mode", list(_check_env_cases()))
def test_check_env_passes_without_warnings(
    env_id: str, difficulty: int, split: str, render_mode: str | None
) -> None:
    env = gym.make(env_id, difficulty=difficulty, split=split, render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    print("\n".join(messages))
    assert messages == []


@pytest.mark.parametrize("difficulty", ChartFamily.difficulties)
@pytest.mark.parametrize("kind", KINDS)
def test_check_env_passes_on_every_kind_and_difficulty(
    kind: str, difficulty: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check_env resets with seeds 123 and 456, tasks of one kind: steer its resets to ``kind``."""
    from iapo_bench.envs import env as env_module

    original = env_module.split_seed

    def seed_of_kind(split: Any, index: int) -> int:
        seed = original(split, index)
        return seed + (KINDS.index(kind) - seed) % len(KINDS)

    monkeypatch.setattr(env_module, "split_seed", seed_of_kind)
    env = gym.make(ENV_ID, difficulty=difficulty, split="test" if difficulty % 2 else "train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [f"{w.category.__name__}: {w.message}" for w in caught]
    print("\n".join(messages))
    assert messages == []
    for seed in (123, 456, None):
        _, info = env.unwrapped.reset(seed=seed)
        task = load_task(info["task_id"])
        assert (task.data["kind"], task.difficulty) == (kind, difficulty)


def _transitions(env: ToolUseEnv, reset: dict[str, Any], actions: list[str]) -> list[Any]:
    """Every ``(obs, info)`` and ``(obs, reward, terminated, truncated, info)`` of an episode."""
    obs, info = env.reset(**reset)
    assert obs in env.observation_space
    out: list[Any] = [copy.deepcopy((obs, info))]
    for action in actions:
        step = env.step(action)
        assert step[0] in env.observation_space
        out.append(copy.deepcopy(step))
    return out


@pytest.mark.parametrize("difficulty", ChartFamily.difficulties)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_and_difficulty_resets_and_steps_deterministically(
    kind: str, difficulty: int
) -> None:
    """check_env resets with seeds 123 and 456 only (one kind per split): this covers the rest."""
    env = make(difficulty=difficulty, max_turns=4)
    # The env draws the kind from the seed: reset(seed=...) and the task id agree.
    seed = kind_seed(kind, "train", nth=1)
    by_seed = _transitions(env, {"seed": seed}, [])
    task_ids = [
        by_seed[0][1]["task_id"],
        ChartFamily().task_id(
            "test", difficulty, SPLIT_SEEDS["test"].start + kind_seed(kind, "test")
        ),
    ]
    assert task_ids[0] == f"chart/v0/train/d{difficulty}/{seed}"
    by_id = _transitions(env, {"options": {"task_id": task_ids[0]}}, [])
    assert data_equivalence(by_seed, by_id, exact=True)
    for task_id in task_ids:
        task = load_task(task_id)
        assert (task.data["kind"], task.difficulty) == (kind, difficulty)
        env.action_space.seed(difficulty)
        sampled = env.action_space.sample()
        actions = [evidence_call(task), call("crop", box=[5, 5, 120, 90]), sampled]
        actions.append(format_answer(task.answer))
        reset = {"options": {"task_id": task_id}}
        first = _transitions(env, reset, actions)
        again = _transitions(env, reset, actions)
        fresh = _transitions(make(max_turns=4), reset, actions)
        # The evidence call succeeds and shows an image; the answer ends the episode.
        assert len(first[1][0]["images"]) == 2
        assert first[1][1:4] == (0.0, False, False)
        assert first[-1][1:4] == (1.0, True, False)
        for other in (again, fresh):
            assert len(other) == len(first)
            for a, b in zip(first, other, strict=True):
                assert data_equivalence(a, b, exact=True), task_id


def test_make_with_module_prefix() -> None:
    env = gym.make("iapo_bench:ToolUse-Chart-v0")
    obs, info = env.reset(seed=3)
    assert isinstance(env.unwrapped, ToolUseEnv)
    assert info["task_id"] == "chart/v0/train/d1/3"
    assert obs["text"].count("<image>") == len(obs["images"]) == 1
    assert env.action_space == UnicodeText(max_length=32_768)


def test_make_vec_resets_and_steps_with_a_tuple_of_actions() -> None:
    envs = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync")
    try:
        obs, info = envs.reset(seed=5)
        assert len(obs["text"]) == 2 and len(obs["images"]) == 2
        assert list(info["task_id"]) == ["chart/v0/train/d1/5", "chart/v0/train/d1/6"]
        assert obs in envs.observation_space
        answer = load_task(info["task_id"][0]).answer
        obs, reward, terminated, truncated, info = envs.step(
            (format_answer(answer), "let me think first")
        )
        assert reward.tolist() == [1.0, 0.0]
        assert terminated.tolist() == [True, False]
        assert truncated.tolist() == [False, False]
        assert "not a valid action (no_action)" in obs["text"][1]
        assert envs.single_action_space == UnicodeText(max_length=32_768)
    finally:
        envs.close()


# --- reset: seeds, task ids, options --------------------------------------------------------


def test_reset_with_a_seed_is_deterministic() -> None:
    first, second = make(), make()
    for seed in (0, 1, 17, 999_999):
        a, info_a = first.reset(seed=seed)
        b, info_b = first.reset(seed=seed)
        c, info_c = second.reset(seed=seed)
        assert a["text"] == b["text"] == c["text"]
        assert image_bytes(a) == image_bytes(b) == image_bytes(c)
        assert info_a["task_id"] == info_b["task_id"] == info_c["task_id"]
        assert info_a["messages"] == info_c["messages"]
        assert info_a["task_id"] == f"chart/v0/train/d1/{seed}"
    assert first.reset(seed=1)[1]["task_id"] != first.reset(seed=2)[1]["task_id"]


def test_reset_without_a_seed_follows_the_seeded_generator() -> None:
    first, second = make(), make()
    first.reset(seed=42)
    second.reset(seed=42)
    ids_a = [first.reset()[1]["task_id"] for _ in range(5)]
    ids_b = [second.reset()[1]["task_id"] for _ in range(5)]
    assert ids_a == ids_b
    assert len(set(ids_a)) == 5
    for task_id in ids_a:
        assert parse_task_id(task_id)[2] == "train"


def test_reset_with_a_task_id_replays_it() -> None:
    env = make(difficulty=0)
    obs, info = env.reset(seed=11)
    task_id = info["task_id"]
    env.step("<answer>x</answer>")
    env.reset(seed=12)
    replay, replay_info = env.reset(options={"task_id": task_id})
    assert replay_info["task_id"] == task_id
    assert replay["text"] == obs["text"]
    assert image_bytes(replay) == image_bytes(obs)
    # Any chart task can be replayed, whatever the env's split and difficulty.
    other = "chart/v0/test/d2/2000000123"
    obs, info = env.reset(options={"task_id": other})
    assert info["task_id"] == other
    np.testing.assert_array_equal(obs["images"][0], load_task(other).image)
    assert load_task(other).question in obs["text"]


def test_reset_difficulty_option() -> None:
    env = make(difficulty=0)
    _, info = env.reset(seed=4, options={"difficulty": 2})
    assert info["task_id"] == "chart/v0/train/d2/4"
    _, info = env.reset(seed=4)
    assert info["task_id"] == "chart/v0/train/d0/4"


@pytest.mark.parametrize(
    "task_id",
    [
        "chart/v1/train/d1/5",  # another version
        "chart/v0/train/d1",  # malformed
        "chart/v0/train/d1/5/",
        "chart/v0/dev/d1/5",
        "chart/v0/train/1/5",
        "Chart/v0/train/d1/5",
        "",
        "chart/v0/train/d1/1500000000",  # a seed outside the split
        "chart/v0/test/d1/5",
        "chart/v0/train/d9/5",  # a difficulty the family does not have
        "nofamily/v0/train/d1/5",  # a family that is not registered
    ],
)
def test_reset_rejects_bad_task_ids(task_id: str) -> None:
    env = make()
    with pytest.raises(ValueError):
        env.reset(options={"task_id": task_id})


class _OtherFamily(ChartFamily):
    name = "otherfam"
    env_id = "ToolUse-OtherFam-v0"


@pytest.fixture
def other_family(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(family_module._FAMILIES, "otherfam", _OtherFamily())
    yield
    load_task.cache_clear()


def test_reset_rejects_a_task_of_another_registered_family(other_family: None) -> None:
    task_id = "otherfam/v0/train/d1/5"
    assert load_task(task_id).family == "otherfam"
    env = make()
    with pytest.raises(ValueError, match="otherfam"):
        env.reset(options={"task_id": task_id})


@pytest.mark.parametrize("options", [{"seed": 3}, {"task": "x"}, {"task_id": None, "foo": 1}])
def test_reset_rejects_unknown_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="option"):
        make().reset(options=options)


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_reset_seed_indexes_the_split_range(split: str) -> None:
    env = make(split=split)
    for seed in (0, 3, 999_999):
        _, info = env.reset(seed=seed)
        family, version, task_split, difficulty, task_seed = parse_task_id(info["task_id"])
        assert (family, version, task_split, difficulty) == ("chart", "v0", split, 1)
        assert task_seed == SPLIT_SEEDS[split].start + seed


def test_validation_seed_offset() -> None:
    _, info = make(split="validation").reset(seed=7)
    assert parse_task_id(info["task_id"])[4] == 1_000_000_007 == SPLIT_SEEDS["validation"].start + 7


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_reset_rejects_out_of_range_seeds(split: str) -> None:
    env = make(split=split)
    with pytest.raises(ValueError, match="out of range"):
        env.reset(seed=len(SPLIT_SEEDS[split]))


# --- determinism across processes -----------------------------------------------------------

_DIGEST_SCRIPT = r"""
import hashlib, json
import gymnasium as gym
import iapo_bench.envs
from iapo_bench.envs import load_task

def episode_digest():
    digest = hashlib.sha256()
    def feed(obs, info, reward=None):
        digest.update(obs["text"].encode())
        for image in obs["images"]:
            digest.update(repr(image.shape).encode())
            digest.update(image.tobytes())
        digest.update(info["task_id"].encode())
        digest.update(json.dumps(info["messages"], sort_keys=True).encode())
        digest.update(repr(reward).encode())
        digest.update(json.dumps(info.get("rewards"), sort_keys=True).encode())
    for difficulty in (0, 2, 3):
        env = gym.make("ToolUse-Chart-v0", difficulty=difficulty).unwrapped
        for seed in (0, 5, 7, 8, 31):  # vbar, stacked_hbar, pie, table, stacked_vbar
            obs, info = env.reset(seed=seed)
            feed(obs, info)
            task = load_task(info["task_id"])
            names = [n for n in task.tool_names if n.endswith("_with_highlight")]
            if names:  # a pie has no focus tools
                call = {"name": names[0], "arguments": {"labels": list(task.evidence)}}
                obs, reward, terminated, truncated, info = env.step(
                    "<tool_call>" + json.dumps(call) + "</tool_call>")
                feed(obs, info, reward)
            obs, reward, terminated, truncated, info = env.step(
                '<tool_call>{"name": "zoom", "arguments": {"box": [20, 30, 220, 130]}}'
                "</tool_call>")
            feed(obs, info, reward)
            obs, reward, terminated, truncated, info = env.step(
                "<answer>" + task.answer + "</answer>")
            feed(obs, info, reward)
            assert terminated and reward == 1.0
    return digest.hexdigest()

def content_hashes():
    return [
        load_task(f"chart/v0/{split}/d{d}/{start + i}").content_hash()
        for d in (0, 1, 2, 3)
        for split, start in (("train", 0), ("test", 2_000_000_000))
        for i in (0, 7, 123_456)
    ]
"""


def test_determinism_across_processes() -> None:
    namespace: dict[str, Any] = {}
    exec(_DIGEST_SCRIPT, namespace)
    here = {"episodes": namespace["episode_digest"](), "tasks": namespace["content_hashes"]()}
    assert len(set(here["tasks"])) == len(here["tasks"]) == 24
    code = (
        _DIGEST_SCRIPT
        + "\nprint(json.dumps({'episodes': episode_digest(), 'tasks': content_hashes()}))\n"
    )
    environment = dict(os.environ, PYTHONHASHSEED="4242")
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    there = json.loads(completed.stdout.strip().splitlines()[-1])
    assert there["tasks"] == here["tasks"]
    assert there["episodes"] == here["episodes"]


# --- observations ------------------------------------------------------------------------


def test_observation_has_one_placeholder_per_image_and_is_in_the_space() -> None:
    env = make(difficulty=2)
    obs, info = env.reset(seed=9)
    task = load_task(info["task_id"])
    assert obs in env.observation_space
    assert obs["text"].count("<image>") == len(obs["images"]) == 1
    np.testing.assert_array_equal(obs["images"][0], task.image)
    actions = [
        focus_call(task, "mask"),
        "no action here",
        call("zoom", box=[0, 0, 3, 3]),  # a tool error: no image
        call("crop", box=[0, 0, 100, 80]),
    ]
    expected_images = [2, 2, 2, 3]
    env = make(difficulty=2, max_turns=6)
    env.reset(seed=9)
    for action, count in zip(actions, expected_images, strict=True):
        obs, _, terminated, truncated, info = env.step(action)
        assert not terminated and not truncated
        assert obs in env.observation_space
        assert len(obs["images"]) == count
        assert obs["text"].count("<image>") == count
        placeholders = sum(
            part.get("type") == "image"
            for message in info["messages"]
            if not isinstance(message["content"], str)
            for part in message["content"]
        )
        assert placeholders == count
    np.testing.assert_array_equal(obs["images"][2], task.image[0:80, 0:100])


@pytest.mark.parametrize("where", ["message", "tool_error"])
def test_agent_text_cannot_forge_image_placeholders(where: str) -> None:
    """The transcript's <image> marks stand for images only, whatever the agent writes."""
    env = make()
    obs, info = env.reset(seed=2)
    task = load_task(info["task_id"])
    (name,) = [n for n in task.tool_names if n.endswith("_with_mask")]
    # A plain message, or a tool call whose error message echoes the unknown label.
    action = "I look at <image> again." if where == "message" else call(name, labels=["<image>"])
    obs, _, _, _, info = env.step(action)
    assert len(obs["images"]) == 1
    assert obs["text"].count("<image>") == len(obs["images"]), obs["text"][-400:]


def test_observation_images_are_fresh_writable_arrays() -> None:
    env = make()
    obs, info = env.reset(seed=21)
    task = load_task(info["task_id"])
    first = obs["images"][0]
    assert first.flags.writeable and first.dtype == np.uint8
    assert not np.shares_memory(first, task.image)
    first[:] = 0
    obs, _, _, _, info = env.step(call("crop", box=[0, 0, 50, 50]))
    np.testing.assert_array_equal(obs["images"][0], task.image)
    assert not np.shares_memory(obs["images"][0], first)
    tool_image = obs["images"][1]
    tool_image[:] = 7
    info["messages"].clear()
    again, _, _, _, info = env.step("still thinking")
    np.testing.assert_array_equal(again["images"][1], task.image[0:50, 0:50])
    assert not np.shares_memory(again["images"][1], tool_image)
    assert not np.shares_memory(again["images"][0], obs["images"][0])
    assert again["images"] is not obs["images"]
    assert len(info["messages"]) == 6  # system, user, 2 x (assistant + reply)


# --- hidden data ---------------------------------------------------------------------------


def _keys(value: Any) -> Iterator[str]:
    if hasattr(value, "model_dump") and not isinstance(value, type):
        value = value.model_dump()
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _keys(item)


def _values(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _values(item)


def _assert_no_hidden_data(info: dict[str, Any], task: Task) -> None:
    keys = set(_keys(info))
    assert not keys & HIDDEN_KEYS, keys & HIDDEN_KEYS
    for value in _values(info):
        assert not isinstance(value, Task)
        if isinstance(value, np.ndarray):
            assert value.shape != task.source_image.shape


def test_hidden_data_never_leaks() -> None:
    systems: dict[str, set[str]] = {kind: set() for kind in KINDS}
    tool_lists: dict[str, set[str]] = {kind: set() for kind in KINDS}
    checked_numbers = 0
    for difficulty in ChartFamily.difficulties:
        for split in ("train", "test"):
            env = make(difficulty=difficulty, split=split)
            for seed in range(20):
                obs, info = env.reset(seed=seed)
                task = load_task(info["task_id"])
                kind = task.data["kind"]
                _assert_no_hidden_data(info, task)
                system = info["messages"][0]["content"]
                systems[kind].add(system)
                tool_lists[kind].add(json.dumps(info["tools"], sort_keys=True))
                obs2, _, _, _, info2 = env.step(evidence_call(task, avoid=task.answer))
                assert len(obs2["images"]) == 2
                _assert_no_hidden_data(info2, task)
                if task.answer_type is not AnswerType.NUMBER or task.answer in task.question:
                    continue
                checked_numbers += 1
                for observation, step_info in ((obs, info), (obs2, info2)):
                    prefix = f"<|im_start|>system\n{system}<|im_end|>\n"
                    assert observation["text"].startswith(prefix)
                    rest = observation["text"][len(prefix) :]
                    assert task.answer not in rest, (task.id, task.answer)
                    dumped = json.dumps(step_info["messages"][1:], ensure_ascii=False)
                    assert task.answer not in dumped, (task.id, task.answer)
    # The system prompt and tool schemas do not depend on the task (only on the tools that
    # apply, which follow from its kind), so they cannot carry its answer.
    for kind in KINDS:
        assert len(systems[kind]) == 1, kind
        assert len(tool_lists[kind]) == 1, kind
    # Kinds with the same focus targets share them: x values, y values, rows and columns, none.
    assert len(set().union(*systems.values())) == len(set().union(*tool_lists.values())) == 4
    assert checked_numbers >= 20


def test_final_info_has_trajectory_and_rewards_but_no_hidden_data() -> None:
    env = make()
    _, info = env.reset(seed=8)
    task = load_task(info["task_id"])
    _, reward, terminated, _, info = env.step(format_answer("nothing"))
    assert terminated and reward == 0.0
    assert isinstance(info["trajectory"], Trajectory)
    assert info["trajectory"].task_id == task.id
    assert set(info["rewards"]) == {"relaxed_accuracy", "exact_match"}
    assert not set(info) & HIDDEN_KEYS
    _assert_no_hidden_data(info, task)


# --- episode mechanics -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_correct_answer_terminates_with_full_reward(seed: int) -> None:
    env = make()
    _, info = env.reset(seed=seed)
    task = load_task(info["task_id"])
    obs, reward, terminated, truncated, info = env.step(f"Reasoning. {format_answer(task.answer)}")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["rewards"] == {"relaxed_accuracy": 1.0, "exact_match": 1.0}
    assert info["trajectory"].answer.text == task.answer
    assert info["trajectory"].truncated is False
    assert info["turn"] == 1
    assert len(obs["images"]) == 1


@pytest.mark.parametrize("seed", range(6))
def test_wrong_answer_terminates_with_zero_reward(seed: int) -> None:
    env = make()
    _, info = env.reset(seed=seed)
    task = load_task(info["task_id"])
    wrong = "-98765" if task.answer_type is AnswerType.NUMBER else "Atlantis"
    _, reward, terminated, truncated, info = env.step(format_answer(wrong))
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert info["rewards"] == {"relaxed_accuracy": 0.0, "exact_match": 0.0}


def test_tool_call_continues_and_adds_its_image() -> None:
    env = make(difficulty=0)
    _, info = env.reset(seed=13)
    task = load_task(info["task_id"])
    obs, reward, terminated, truncated, info = env.step(focus_call(task))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert "trajectory" not in info and "rewards" not in info
    assert info["turn"] == 1
    assert len(obs["images"]) == 2
    assert not np.array_equal(obs["images"][1], task.image)
    assert obs["images"][1].shape == task.image.shape
    assert "Highlighted" in obs["text"]
    assert [m["role"] for m in info["messages"]] == ["system", "user", "assistant", "tool"]
    assert info["messages"][2]["tool_calls"][0]["function"]["arguments"] == {
        "labels": list(task.evidence)
    }
    obs, reward, terminated, truncated, info = env.step(format_answer(task.answer))
    assert (reward, terminated, truncated) == (1.0, True, False)
    trajectory = info["trajectory"]
    assert len(trajectory.turns) == 2 and len(trajectory.tool_calls) == 1
    assert trajectory.turns[0].result.ok


def test_tool_error_continues_without_an_image() -> None:
    env = make()
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(call("zoom", box=[5, 5, 6, 6]))
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert len(obs["images"]) == 1
    assert info["messages"][-1]["role"] == "tool"
    (part,) = info["messages"][-1]["content"]  # text only, no image part
    assert part["type"] == "text" and part["text"].startswith("Error:")
    assert "Error:" in obs["text"] and "4x4" in obs["text"]


@pytest.mark.parametrize(
    "action, kind",
    [
        ("I think it is 3.", "no_action"),
        ("<answer>3", "no_action"),
        ("<tool_call>{nope}</tool_call>", "malformed_json"),
        ('<tool_call>{"name": "paint", "arguments": {}}</tool_call>', "unknown_tool"),
        ('<tool_call>{"name": "zoom", "arguments": {"box": [1]}}</tool_call>', "invalid_arguments"),
        ("<answer>3</answer><answer>4</answer>", "several_actions"),
    ],
)
def test_parse_errors_continue_with_feedback(action: str, kind: str) -> None:
    env = make()
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert f"Your last message was not a valid action ({kind})" in obs["text"]
    assert info["messages"][-1]["role"] == "user"
    assert f"({kind})" in info["messages"][-1]["content"]
    assert len(obs["images"]) == 1


def test_call_and_answer_in_one_message_is_a_parse_error() -> None:
    env = make()
    env.reset(seed=1)
    obs, _, terminated, _, _ = env.step(call("crop", box=[0, 0, 50, 50]) + "<answer>3</answer>")
    assert not terminated
    assert "(several_actions)" in obs["text"]
    assert len(obs["images"]) == 1


def test_truncation_at_max_turns() -> None:
    env = make(max_turns=2)
    env.reset(seed=1)
    _, reward, terminated, truncated, info = env.step("hmm")
    assert (reward, terminated, truncated) == (0.0, False, False)
    _, reward, terminated, truncated, info = env.step("hmm again")
    assert (reward, terminated, truncated) == (0.0, False, True)
    assert info["trajectory"].truncated is True
    assert info["trajectory"].answer is None
    assert info["rewards"] == {"relaxed_accuracy": 0.0, "exact_match": 0.0}
    assert info["turn"] == 2


def test_truncation_after_tool_calls_and_answer_on_the_last_turn() -> None:
    env = make(max_turns=3)
    _, info = env.reset(seed=4)
    task = load_task(info["task_id"])
    env.step(call("crop", box=[0, 0, 50, 50]))
    env.step(call("zoom", box=[0, 0, 50, 50]))
    _, reward, terminated, truncated, info = env.step(call("crop", box=[0, 0, 60, 60]))
    assert (terminated, truncated, reward) == (False, True, 0.0)
    assert len(info["trajectory"].tool_calls) == 3
    env.reset(seed=4)
    env.step("hmm")
    env.step("hmm")
    _, reward, terminated, truncated, info = env.step(format_answer(task.answer))
    assert (terminated, truncated, reward) == (True, False, 1.0)


def test_step_after_the_end_needs_a_reset() -> None:
    env = make()
    env.reset(seed=1)
    env.step("<answer>1</answer>")
    with pytest.raises(gym.error.ResetNeeded):
        env.step("<answer>1</answer>")
    env.reset(seed=1)
    _, _, terminated, _, _ = env.step("<answer>1</answer>")
    assert terminated
    truncating = make(max_turns=2)
    truncating.reset(seed=1)
    truncating.step("a")
    truncating.step("b")
    with pytest.raises(gym.error.ResetNeeded):
        truncating.step("c")


def test_step_before_reset_raises() -> None:
    with pytest.raises(gym.error.ResetNeeded):
        ToolUseEnv().step("<answer>1</answer>")
    with pytest.raises(gym.error.ResetNeeded):
        gym.make(ENV_ID).step("<answer>1</answer>")


@pytest.mark.parametrize("action", [None, 3, b"<answer>1</answer>", ["<answer>1</answer>"]])
def test_non_str_action_raises_type_error(action: object) -> None:
    env = make()
    env.reset(seed=1)
    with pytest.raises(TypeError):
        env.step(action)  # type: ignore[arg-type]
    # The episode is untouched and goes on.
    obs, _, terminated, _, info = env.step("<answer>1</answer>")
    assert terminated and info["turn"] == 1
    assert len(obs["images"]) == 1


@pytest.mark.filterwarnings("ignore:.*render_mode.*:UserWarning")
@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_turns": 1},
        {"max_turns": 0},
        {"max_turns": -3},
        {"max_turns": 2.5},
        {"max_turns": "3"},
        {"split": "dev"},
        {"split": "Train"},
        {"difficulty": 4},
        {"difficulty": -1},
        {"render_mode": "human"},
        {"render_mode": "rgb"},
        {"rubric": "no_such_reward:1"},
    ],
)
def test_invalid_constructor_arguments_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ToolUseEnv("chart", **kwargs)
    if kwargs.get("render_mode") == "human":
        return  # gym.make wraps the env in HumanRendering over rgb_array instead
    with pytest.raises(ValueError):
        gym.make(ENV_ID, **kwargs)


def test_unknown_family_raises() -> None:
    with pytest.raises(KeyError, match="chart"):
        ToolUseEnv("no_such_family")


def test_render_rgb_array_returns_the_latest_image() -> None:
    env = make(render_mode="rgb_array")
    assert env.render() is None  # nothing to show before reset
    _, info = env.reset(seed=6)
    task = load_task(info["task_id"])
    frame = env.render()
    np.testing.assert_array_equal(frame, task.image)
    frame[:] = 0
    np.testing.assert_array_equal(env.render(), task.image)
    env.step(call("crop", box=[10, 20, 110, 70]))
    np.testing.assert_array_equal(env.render(), task.image[20:70, 10:110])
    env.step(call("zoom", box=[0, 0, 3, 3]))  # an error: the latest image stays
    np.testing.assert_array_equal(env.render(), task.image[20:70, 10:110])


def test_render_ansi_returns_the_transcript() -> None:
    env = make(render_mode="ansi")
    obs, _ = env.reset(seed=6)
    assert env.render() == obs["text"]
    obs, _, _, _, _ = env.step("thinking")
    text = env.render()
    assert isinstance(text, str) and text == obs["text"]
    assert "thinking" in text


def test_render_without_mode_returns_none() -> None:
    env = make()
    env.reset(seed=6)
    assert env.render() is None


def test_custom_rubric_changes_reward_components() -> None:
    seed = next(
        s for s in range(100) if load_task(f"chart/v0/train/d1/{s}").answer_type.value == "number"
    )
    task = load_task(f"chart/v0/train/d1/{seed}")
    near = f"{float(task.answer) * 1.02:.3f}"  # within 5%, not exact
    default = make()
    default.reset(seed=seed)
    _, reward, _, _, info = default.step(format_answer(near))
    assert reward == 1.0
    assert info["rewards"] == {"relaxed_accuracy": 1.0, "exact_match": 0.0}
    strict = make(rubric="exact_match:1")
    strict.reset(seed=seed)
    _, reward, _, _, info = strict.step(format_answer(near))
    assert reward == 0.0
    assert set(info["rewards"]) == {"exact_match"}
    strict.reset(seed=seed)
    _, reward, _, _, info = strict.step(format_answer(task.answer))
    assert reward == 1.0 and info["rewards"] == {"exact_match": 1.0}


def test_info_is_identical_between_identical_runs() -> None:
    def run() -> list[str]:
        env = make(difficulty=2)
        _, info = env.reset(seed=3)
        task = load_task(info["task_id"])
        dumps = [json.dumps(info, sort_keys=True)]
        for action in (
            focus_call(task, "draw"),
            call("zoom", box=[0, 0, 90, 90]),
            "<answer>1</answer>",
        ):
            _, _, _, _, info = env.step(action)
            trajectory = info.pop("trajectory", None)
            dumps.append(json.dumps(info, sort_keys=True))
            if trajectory is not None:
                dumps.append(trajectory.model_dump_json())
        return dumps

    assert run() == run()


# --- fuzzing ---------------------------------------------------------------------------------

_FUZZ_ENVS = {kind: make(max_turns=3) for kind in KINDS}
_SEEDS = {kind: kind_seed(kind) for kind in KINDS}  # one train task of each kind, at d1
_CATEGORIES = sorted(
    {
        label
        for seed in _SEEDS.values()
        for label in (
            *load_task(f"chart/v0/train/d1/{seed}").data["categories"],
            *load_task(f"chart/v0/train/d1/{seed}").data["series"],  # a table's columns
        )
    }
)
_REGION_KINDS = {plural: kind for kind, plural in TARGETS.items()}  # "rows": "row"


_TOOL_NAMES = [t.name for t in CHART_TOOLS]
_FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<answer>",
    "</answer>",
    '{"name": "zoom", "arguments": ',
    '{"name": "crop", "arguments": ',
    '{"name": "focus_on_x_values_with_mask", "arguments": ',
    '{"name": "focus_on_y_values_with_highlight", "arguments": ',
    '{"name": "focus_on_rows_with_mask", "arguments": ',
    '{"name": "focus_on_columns_with_draw", "arguments": ',
    '{"box": [',
    '{"labels": ["',
    '", "',
    '"]}',
    '"factor": ',
    "]",
    "}",
    "{",
    "[",
    ",",
    ", ",
    '"',
    "\n",
    "```json\n",
    "```",
    "-",
    ".",
    "1e9",
    "NaN",
    "null",
    "crop",
    "zoom",
    "focus_on_x_values_with_mask",
    "focus_on_y_values_with_draw",
    "focus_on_rows_with_highlight",
    "focus_on_columns_with_mask",
    "Peru",
    "Apple",
    "Revenue",
    "Jan",
    *(str(d) for d in range(10)),
    "100",
    "640",
    "460",
]

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
_arguments = st.dictionaries(
    st.sampled_from(["box", "labels", "factor", "x", ""]),
    _json
    | st.lists(st.integers(-1000, 2000), min_size=0, max_size=6)
    | st.lists(
        st.sampled_from(["Peru", "APPLE", "lyon", "", "North", "profit", "MAR"]), max_size=4
    ),
    max_size=3,
)
_structured_call = st.builds(
    lambda name, arguments, close: (
        "<tool_call>"
        + json.dumps({"name": name, "arguments": arguments})
        + ("</tool_call>" if close else "")
    ),
    st.sampled_from([*_TOOL_NAMES, "paint", ""]),
    _arguments,
    st.booleans(),
)
_mixed = st.lists(
    st.sampled_from(_FRAGMENTS) | st.text(max_size=4) | st.integers(-5, 999).map(str),
    max_size=25,
).map("".join)
_pixel_box = st.lists(st.integers(-60, 760), min_size=4, max_size=4) | st.builds(
    lambda x, y, w, h: [x, y, x + w, y + h],
    st.integers(-20, 640),
    st.integers(-20, 460),
    st.integers(-5, 300),
    st.integers(-5, 300),
)
_chart_labels = st.lists(
    st.sampled_from(_CATEGORIES)
    | st.sampled_from(_CATEGORIES).map(str.upper)
    | st.sampled_from(["Peru", "apple", "", " ", "<image>"]),
    min_size=0,
    max_size=3,
)
_plausible_call = (
    st.builds(
        lambda name, labels: call(name, labels=labels),
        st.sampled_from([n for n in _TOOL_NAMES if n.startswith("focus")]),
        _chart_labels,
    )
    | st.builds(lambda box: call("crop", box=box), _pixel_box)
    | st.builds(
        lambda box, factor: call("zoom", box=box, factor=factor),
        _pixel_box,
        st.floats(0.5, 5.0) | st.integers(1, 4),
    )
)
_answer = (st.text(max_size=10) | st.floats().map(str)).map(lambda t: f"<answer>{t}</answer>")
ACTIONS = st.text() | _mixed | _structured_call | _plausible_call | _answer


def _step_all(env: ToolUseEnv, seed: int, actions: list[str]) -> None:
    obs, _ = env.reset(seed=seed)
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        assert isinstance(reward, float) and 0.0 <= reward <= 1.0
        assert obs in env.observation_space
        assert isinstance(info["task_id"], str)
        if terminated or truncated:
            assert "trajectory" in info and "rewards" in info
            obs, _ = env.reset(seed=seed)
        else:
            assert reward == 0.0


@given(
    kind=st.sampled_from(KINDS),
    actions=st.lists(ACTIONS, min_size=1, max_size=5),
    data=st.data(),
)
@settings(
    max_examples=1200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_fuzz_stepping_arbitrary_text_never_raises(
    kind: str, actions: list[str], data: st.DataObject
) -> None:
    seed = _SEEDS[kind]
    task = load_task(f"chart/v0/train/d1/{seed}")
    assert task.data["kind"] == kind
    if data.draw(st.booleans()):
        # A call with this chart's own labels or a box inside it, so that the tools' success
        # paths run too (a pie has crop and zoom only).
        name = data.draw(st.sampled_from(task.tool_names))
        if name.startswith("focus_on_"):
            target = _REGION_KINDS[name.removeprefix("focus_on_").split("_with_")[0]]
            keys = [e.key for e in task.elements if e.kind == target]
            own = call(name, labels=data.draw(st.lists(st.sampled_from(keys), min_size=1)))
        else:
            height, width = task.image.shape[:2]
            x0 = data.draw(st.integers(0, width - 4))
            y0 = data.draw(st.integers(0, height - 4))
            box = [
                x0,
                y0,
                data.draw(st.integers(x0 + 4, width)),
                data.draw(st.integers(y0 + 4, height)),
            ]
            own = call(name, box=box)
        position = data.draw(st.integers(0, len(actions)))
        actions.insert(position, own)
    _step_all(_FUZZ_ENVS[kind], seed, actions)


def test_sampled_actions_never_raise() -> None:
    env = make(max_turns=4)
    env.action_space.seed(1234)
    env.reset(seed=0)
    endings = 0
    for step in range(3000):
        action = env.action_space.sample()
        assert action in env.action_space
        obs, reward, terminated, truncated, _ = env.step(action)
        assert 0.0 <= reward <= 1.0
        if terminated or truncated:
            endings += 1
            env.reset(seed=step % 6)
    assert obs in env.observation_space
    assert endings > 100


# --- the other families: arbitrary text and their own tools, with real OCR and search -------

_OTHER_ENVS = {
    "ToolUse-OCR-v0": gym.make("ToolUse-OCR-v0", max_turns=3).unwrapped,
    "ToolUse-ImageSearch-v0": gym.make("ToolUse-ImageSearch-v0", max_turns=3).unwrapped,
}


def _own_call(env_id: str, data: st.DataObject) -> str:
    """A call of one of the env's own tools with drawn arguments, valid or not."""
    if env_id == "ToolUse-OCR-v0":
        # Small boxes: a whole-page read takes seconds, and the fuzz is about arguments.
        x0, y0 = data.draw(st.integers(-20, 300)), data.draw(st.integers(-20, 300))
        box = [x0, y0, x0 + data.draw(st.integers(-5, 60)), y0 + data.draw(st.integers(-5, 60))]
        if data.draw(st.booleans()):
            return call("ocr", box=box)
        return call("zoom", box=box, factor=data.draw(st.floats(-1, 6, allow_nan=False)))
    if data.draw(st.booleans()):
        query = data.draw(
            st.text(max_size=30) | st.lists(st.integers(-50, 400), min_size=4, max_size=4)
        )
        return call("search_images", query=query, k=data.draw(st.integers(-2, 12)))
    item = data.draw(st.text(max_size=12) | st.from_regex(r"G-\d{5}", fullmatch=True))
    return call("open_item", item_id=item)


@pytest.mark.parametrize("env_id", sorted(_OTHER_ENVS))
@given(actions=st.lists(ACTIONS, min_size=1, max_size=3), data=st.data())
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_fuzz_ocr_and_search_steps_never_raise(
    env_id: str, actions: list[str], data: st.DataObject
) -> None:
    for _ in range(data.draw(st.integers(0, 2))):
        actions.insert(data.draw(st.integers(0, len(actions))), _own_call(env_id, data))
    _step_all(_OTHER_ENVS[env_id], data.draw(st.integers(0, 50)), actions)


# --- agent text can never hang or crash the env: bounds, Unicode ----------------------------


def _adversarial_text(length: int) -> str:
    """``length`` characters that render longest in a transcript (each ``<image>`` is escaped)."""
    return ("<image>" * (length // 7 + 1))[:length]


def _assert_turns_bounded(env: ToolUseEnv, info: dict[str, Any]) -> None:
    """Everything agent text reaches is within the env's bounds."""
    limit = env.action_space.max_length
    for turn in env.trajectory.turns:
        assert len(turn.text) <= limit + 64  # a message over the limit is kept cut, marked
        if isinstance(turn.action, ParseError):
            assert len(turn.action.message) <= MAX_ERROR_MESSAGE_LENGTH
        if turn.result is not None:
            assert len(turn.result.text) <= MAX_TOOL_TEXT_LENGTH
            assert len(turn.result.error or "") <= MAX_TOOL_TEXT_LENGTH
    json.dumps(info["messages"]).encode("utf-8")


def test_a_message_over_max_action_length_is_a_typed_error_and_stored_cut() -> None:
    env = make(max_action_length=100, max_turns=3)
    obs, info = env.reset(seed=4)
    action = "<answer>1</answer>" + "x" * 83  # 101 characters: never read, not even its answer
    obs, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert obs in env.observation_space
    turn = env.trajectory.turns[-1]
    assert turn.action == ParseError(
        error=ParseErrorKind.TOO_LONG,
        message="the message is longer than 100 characters, so it was not read",
    )
    assert turn.text == action[:100] + "\n[cut by the env: over 100 characters]"
    assert info["messages"][-2] == {"role": "assistant", "content": turn.text}
    assert "not a valid action (too_long)" in obs["text"]
    # Exactly at the limit, a message is read.
    answer = format_answer(load_task(info["task_id"]).answer)
    exact = answer + " " * (100 - len(answer))
    obs, reward, terminated, truncated, info = env.step(exact)
    assert terminated and reward == 1.0
    assert info["trajectory"].turns[0] == turn


def test_a_replayed_cut_message_is_too_long_again() -> None:
    first, second = make(max_action_length=50), make(max_action_length=50)
    first.reset(seed=2)
    second.reset(seed=2)
    first.step("\ud83d\ude00 " + "<tool_call>" * 100)
    recorded = first.trajectory.turns[-1]
    assert len(recorded.text) > 50 and recorded.action.error is ParseErrorKind.TOO_LONG
    second.step(recorded.text)
    assert second.trajectory.turns[-1] == recorded


def test_a_huge_message_is_not_parsed_and_everything_stays_bounded() -> None:
    env = make(max_turns=3)
    env.reset(seed=1)
    for action in ("<tool_call>```" + " " * 5_000_000, "<answer>" * 1_000_000):
        obs, _, terminated, _, info = env.step(action)
        assert not terminated and obs in env.observation_space
        assert env.trajectory.turns[-1].action.error is ParseErrorKind.TOO_LONG
        _assert_turns_bounded(env, info)
    assert len(json.dumps(info["messages"])) < 3 * env.action_space.max_length


def test_lone_surrogates_are_replaced_at_the_env_boundary() -> None:
    env = make()
    obs, info = env.reset(seed=5)
    obs, *_, info = env.step("\udc80 thinking \ud83d\ude00, nul \x00, escape \x1b[0m \ud800")
    assert (
        env.trajectory.turns[-1].text
        == "\ufffd thinking \ufffd\ufffd, nul \x00, escape \x1b[0m \ufffd"
    )
    obs["text"].encode("utf-8")
    json.dumps(info["messages"], ensure_ascii=False).encode("utf-8")
    (name,) = [n for n in load_task(info["task_id"]).tool_names if n.endswith("_with_mask")]
    body = '{"name": "' + name + '", "arguments": {"labels": ["\\ud800x"]}}'  # a JSON escape
    obs, *_, info = env.step(f"<tool_call>{body}</tool_call>")
    assert env.trajectory.turns[-1].action.arguments == {"labels": ["\ufffdx"]}
    assert "'\ufffdx'" in env.trajectory.turns[-1].result.error
    obs, *_, info = env.step("<answer>4\ud800</answer>")
    trajectory = info["trajectory"]
    assert trajectory.answer.text == "4\ufffd"
    trajectory.model_dump_json().encode("utf-8")
    obs["text"].encode("utf-8")


def test_long_tool_text_and_errors_are_cut_with_a_marker() -> None:
    env = make()
    obs, info = env.reset(seed=5)
    (name,) = [n for n in load_task(info["task_id"]).tool_names if n.endswith("_with_mask")]
    obs, *_, info = env.step(call(name, labels=["q" * 30_000]))
    error = env.trajectory.turns[-1].result.error
    assert len(error) <= MAX_TOOL_TEXT_LENGTH
    assert error.startswith("no ") and error.endswith(" more characters]")
    assert obs in env.observation_space
    _assert_turns_bounded(env, info)


def test_a_tool_image_over_max_side_is_scaled_down(monkeypatch: pytest.MonkeyPatch) -> None:
    @tool_decorator
    def crop(box: list[int]) -> ToolResult:
        """Return a very wide image.

        Args:
            box: Ignored.
        """
        return ToolResult(text="wide", image=np.full((10, 9000, 3), 7, np.uint8))

    env = make()
    env.reset(seed=5)
    monkeypatch.setitem(env._tools, "crop", crop)
    obs, *_ = env.step(call("crop", box=[0, 0, 9, 9]))
    assert obs["images"][-1].shape == (5, 4096, 3)
    assert (obs["images"][-1] == 7).all()
    assert (
        env.trajectory.turns[-1].result.text
        == "wide (image scaled down from 9000x10 to 4096x5 pixels)"
    )
    assert obs in env.observation_space


def test_reset_refuses_a_question_the_observation_space_has_no_room_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iapo_bench.envs import env as env_module

    task = load_task("chart/v0/train/d1/3")
    long = Task(
        **{name: getattr(task, name) for name in Task.model_fields if name != "question"},
        question="Why? " * 1000,
        source_image=task.source_image,
    )
    monkeypatch.setattr(env_module, "load_task", lambda task_id: long)
    env = make()
    with pytest.raises(ValueError, match="question of 5000 characters"):
        env.reset(seed=3)
    with pytest.raises(gym.error.ResetNeeded):
        env.step("<answer>1</answer>")


def test_reset_refuses_an_image_the_observation_space_has_no_room_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from iapo_bench.envs import env as env_module

    task = load_task("chart/v0/train/d1/3")
    fields = {name: getattr(task, name) for name in Task.model_fields if name != "image"}
    wide = Task(**fields, image=np.zeros((8, 5000, 3), np.uint8), source_image=task.source_image)
    monkeypatch.setattr(env_module, "load_task", lambda task_id: wide)
    with pytest.raises(ValueError, match="image of 5000x8 pixels"):
        make().reset(seed=3)


@pytest.mark.parametrize("value", [0, -3, 2.5, "100"])
def test_max_action_length_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(ValueError, match="max_action_length"):
        ToolUseEnv(max_action_length=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_turns", [2, 4, 7])
def test_the_observation_space_is_sized_from_the_bounds(max_turns: int) -> None:
    small = make(max_turns=max_turns, max_action_length=1000).observation_space
    large = make(max_turns=max_turns, max_action_length=2000).observation_space
    assert isinstance(small, ToolUseObservation)
    assert small.max_images == max_turns + 1 and small.max_side == MAX_IMAGE_SIDE
    # Each turn may add a message 1,000 characters longer, escaped: 1,000 * 8 / 7 more.
    grown = large.max_text_length - small.max_text_length
    assert grown == max_turns * (1000 + 1000 // 7 + 1)


def _heavy_call(env_id: str, task: Task) -> str:
    """A valid call of the env's own tools whose reply is as long as a tool can make it."""
    huge = 10**4000  # its 4,001 digits come back four times in the error about the box
    if env_id == "ToolUse-ImageSearch-v0":
        # Known words: a successful search, which quotes its query, with a contact sheet.
        return call("search_images", query="red " * 7000)
    if env_id == "ToolUse-Bars-v0":  # the error quotes the unknown bar
        return call("compare", bars=["Q" * 9000, "A"])
    name = "ocr" if env_id == "ToolUse-OCR-v0" else "zoom"
    return call(name, box=[huge] * 4)


@pytest.mark.parametrize("env_id", env_ids())
def test_adversarial_maximal_episodes_stay_in_the_observation_space(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    limit = env.action_space.max_length
    obs, info = env.reset(seed=0)
    task = load_task(info["task_id"])
    tool_name = task.tool_names[0]
    unknown_prefix, unknown_suffix = '<tool_call>{"name": "', '", "arguments": {}}</tool_call>'
    padding = limit - len(unknown_prefix) - len(unknown_suffix)
    extra_prefix = f'<tool_call>{{"name": "{tool_name}", "arguments": {{"'
    extra_suffix = '": 1}}</tool_call>'
    episodes = [
        [
            _adversarial_text(limit + 1),  # too long: stored cut
            unknown_prefix
            + _adversarial_text(padding)
            + unknown_suffix,  # an unknown tool, at the limit
            _heavy_call(env_id, task),  # the longest tool reply
            extra_prefix
            + _adversarial_text(limit - len(extra_prefix) - len(extra_suffix))
            + extra_suffix,
        ],
        [_heavy_call(env_id, task)] * 3 + [_adversarial_text(10 * limit)],
    ]
    for actions in episodes:
        obs, info = env.reset(seed=0)
        assert obs in env.observation_space
        for action in actions:
            obs, _, terminated, truncated, info = env.step(action)
            assert obs in env.observation_space, (len(obs["text"]), env.observation_space)
            _assert_turns_bounded(env, info)
        assert truncated and not terminated
        kinds = [
            t.action.error if isinstance(t.action, ParseError) else None
            for t in env.trajectory.turns
        ]
        assert ParseErrorKind.TOO_LONG in kinds
        # The replies really were cut: the bounds were reached, not merely respected.
        assert any(
            t.result is not None
            and max(len(t.result.text), len(t.result.error or "")) > MAX_TOOL_TEXT_LENGTH - 100
            for t in env.trajectory.turns
        )
        info["trajectory"].model_dump_json().encode("utf-8")


# --- make_vec: async with shared memory (gymnasium's default), without, and sync -------------

VECTOR_MODES = {
    "async": ("async", {}),
    "async-live": ("async", {"copy": False}),
    "async-no-shared-memory": ("async", {"shared_memory": False}),
    "sync": ("sync", {}),
}


def _assert_same_observations(batch: Any, singles: list[dict[str, Any]]) -> None:
    assert list(batch["text"]) == [single["text"] for single in singles]
    assert len(batch["images"]) == len(singles)
    for images, single in zip(batch["images"], singles, strict=True):
        assert len(images) == len(single["images"])
        for a, b in zip(images, single["images"], strict=True):
            assert a.dtype == np.uint8
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", sorted(VECTOR_MODES))
@pytest.mark.parametrize("env_id", env_ids())
def test_make_vec_plays_oracle_episodes_like_single_envs(env_id: str, mode: str) -> None:
    """An oracle call, its answer, then the autoreset step: the same observations as one env
    each, on the same seeds, in every vectorization mode."""
    vectorization_mode, vector_kwargs = VECTOR_MODES[mode]
    n, seed = 2, 11
    singles = [gym.make(env_id).unwrapped for _ in range(n)]
    oracle = OracleAgent()
    envs = gym.make_vec(
        env_id, num_envs=n, vectorization_mode=vectorization_mode, vector_kwargs=vector_kwargs
    )
    try:
        batch, infos = envs.reset(seed=seed)
        steps = [env.reset(seed=seed + i) for i, env in enumerate(singles)]
        _assert_same_observations(batch, [obs for obs, _ in steps])
        assert list(infos["task_id"]) == [info["task_id"] for _, info in steps]
        assert batch in envs.observation_space
        first_batch, first_texts = batch, tuple(batch["text"])
        first_images = [image.copy() for image in batch["images"][0]]
        done = [False] * n
        outcomes = []
        for _ in range(3):
            actions = oracle.act([obs for obs, _ in steps], [info for _, info in steps])
            batch, rewards, terminated, truncated, infos = envs.step(tuple(actions))
            expected_rewards = []
            for i, env in enumerate(singles):
                if done[i]:  # gymnasium's next-step autoreset: a reset, the action unused
                    steps[i] = env.reset()
                    expected_rewards.append(0.0)
                    done[i] = False
                    continue
                obs, reward, ended, cut, info = env.step(actions[i])
                steps[i] = (obs, info)
                expected_rewards.append(reward)
                done[i] = ended or cut
            _assert_same_observations(batch, [obs for obs, _ in steps])
            assert batch in envs.observation_space
            assert rewards.tolist() == expected_rewards
            assert (terminated | truncated).tolist() == done
            outcomes.append((expected_rewards, list(done)))
        # The oracle called a tool, then answered right; the third step reset both envs.
        assert outcomes == [
            ([0.0] * n, [False] * n),
            ([1.0] * n, [True] * n),
            ([0.0] * n, [False] * n),
        ]
        if vector_kwargs.get("copy", True):
            # Each call returned its own objects: the first batch still shows the reset.
            assert tuple(first_batch["text"]) == first_texts
        else:
            # One live object, read afresh: it shows the latest observations.
            assert batch is first_batch
            # A new task after the reset: its text differs, or (every question of a bars
            # level is the same words) its image does.
            now = first_batch["images"][0]
            assert tuple(first_batch["text"]) != first_texts or any(
                a.shape != b.shape or not np.array_equal(a, b)
                for a, b in zip(now, first_images, strict=False)
            )
    finally:
        envs.close()
        for env in singles:
            env.close()


def test_make_vec_async_shares_memory_by_default_and_works_with_spawn() -> None:
    envs = gym.make_vec(
        ENV_ID, num_envs=2, vectorization_mode="async", vector_kwargs={"context": "spawn"}
    )
    try:
        assert envs.unwrapped.shared_memory is True
        batch, infos = envs.reset(seed=3)
        single = make()
        _assert_same_observations(batch, [single.reset(seed=3 + i)[0] for i in range(2)])
        answers = tuple(format_answer(load_task(task_id).answer) for task_id in infos["task_id"])
        batch, rewards, terminated, *_ = envs.step(answers)
        assert rewards.tolist() == [1.0, 1.0] and terminated.all()
    finally:
        envs.close()
