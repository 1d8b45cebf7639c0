"""``ToolUseEnv``: the one Gymnasium environment every task family plugs into.

An episode shows one task's image and question. Each ``step`` takes one model message (a
string), parses it with :func:`~iapo_bench.tools.parse_action`, runs the tool it calls (whose
image, if any, joins the observation) and ends on an answer or at ``max_turns``. The reward is
0 until the end, then the rubric's total; a truncated episode is scored too (no answer).
"""

from __future__ import annotations

import functools
import json
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from iapo_bench.chat import build_messages, render_transcript, system_prompt
from iapo_bench.core import Answer, Split, Task, ToolCall, Trajectory, Turn
from iapo_bench.envs.family import SPLIT_SEEDS, TaskFamily, get_family, load_task, split_seed
from iapo_bench.envs.spaces import ImageSpace, UnicodeText
from iapo_bench.rewards.rubric import Rubric
from iapo_bench.tools.base import Tool
from iapo_bench.tools.parser import parse_action

__all__ = ["ToolUseEnv"]

_SPLITS = ("train", "validation", "test")


@functools.lru_cache(maxsize=64)  # a family has a handful of tool sets
def _prompts(tools: tuple[Tool, ...]) -> tuple[str, str]:
    """The system prompt and the tools' JSON (parsed anew for each info) of a tool set."""
    schemas = [t.schema for t in tools]
    return system_prompt(schemas), json.dumps(schemas)


class ToolUseEnv(gym.Env[dict[str, Any], str]):
    """A multimodal tool-use task as a Gymnasium environment.

    Observation: ``{"text": transcript with <image> marks, "images": tuple of uint8 HxWx3}``,
    fresh objects on every call. Action: the model's message, a ``str``. ``info`` holds the
    task id, the turn count, the OpenAI-format ``messages`` and the ``tools`` schemas, and at
    the end the ``trajectory`` and every reward component (``rewards``). Hidden data (the
    reference answer, the tool metadata) is never in the observation or ``info``.

    Args:
        family: A registered family name (``"chart"``) or a :class:`TaskFamily`.
        split: Which seed range ``reset`` draws from: ``"train"``, ``"validation"``, ``"test"``.
        difficulty: Difficulty level; ``None`` takes the family's default.
        max_turns: Messages allowed before truncation (at least 2: a call and an answer).
        rubric: A :class:`Rubric` or spec string; ``None`` takes the family's default.
        render_mode: ``"rgb_array"`` (the latest image) or ``"ansi"`` (the transcript).

    >>> import gymnasium as gym, iapo_bench
    >>> env = gym.make("ToolUse-Chart-v0")
    >>> obs, info = env.reset(seed=3)
    >>> obs["text"].count("<image>") == len(obs["images"]) == 1
    True
    >>> obs, reward, terminated, truncated, info = env.step("<answer>42</answer>")
    >>> terminated, sorted(info["rewards"])
    (True, ['exact_match', 'relaxed_accuracy'])
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "ansi"], "render_fps": 1}

    def __init__(
        self,
        family: str | TaskFamily = "chart",
        *,
        split: Split = "train",
        difficulty: int | None = None,
        max_turns: int = 4,
        rubric: str | Rubric | None = None,
        render_mode: str | None = None,
        max_action_length: int = 32_768,
    ) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        if split not in _SPLITS:
            raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
        difficulty = self.family.default_difficulty if difficulty is None else difficulty
        if difficulty not in self.family.difficulties:
            raise ValueError(
                f"difficulty must be one of {self.family.difficulties}, got {difficulty!r}"
            )
        if not isinstance(max_turns, int) or max_turns < 2:
            raise ValueError(
                f"max_turns must be an int >= 2 (a call, then an answer), got {max_turns!r}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.split: Split = split
        self.difficulty = difficulty
        self.max_turns = max_turns
        self.rubric = (
            Rubric.parse(rubric or self.family.default_rubric)
            if not isinstance(rubric, Rubric)
            else rubric
        )
        self.render_mode = render_mode
        self.action_space = UnicodeText(max_length=max_action_length)
        self.observation_space = spaces.Dict(
            {
                "text": UnicodeText(max_length=10_000_000),
                "images": spaces.Sequence(ImageSpace(max_side=4096), stack=False),
            }
        )
        self._task: Task | None = None
        self._tools: dict[str, Tool] = {}
        self._system = ""
        self._tools_json = "[]"
        self._images: list[np.ndarray] = []
        self._turns: list[Turn] = []
        self._done = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode: task ``seed`` of the split, or ``options["task_id"]``.

        Options: ``task_id`` replays a given task (GRPO's G rollouts of one prompt);
        ``difficulty`` overrides the env's level for this episode.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"task_id", "difficulty"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: task_id, difficulty")
        if "task_id" in options:
            task = load_task(str(options["task_id"]))
            if task.family != self.family.name:
                raise ValueError(
                    f"task {task.id!r} is of family {task.family!r}, not {self.family.name!r}"
                )
        else:
            difficulty = int(options.get("difficulty", self.difficulty))
            index = (
                seed
                if seed is not None
                else int(self.np_random.integers(len(SPLIT_SEEDS[self.split])))
            )
            generator_seed = split_seed(self.split, index)
            task = load_task(self.family.task_id(self.split, difficulty, generator_seed))
        self._task = task
        tools = self.family.tools_for(task)
        self._tools = {t.name: t for t in tools}
        self._system, self._tools_json = _prompts(tools)
        self._images = [task.image]
        self._turns = []
        self._done = False
        return self._observation_and_info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Take one message; returns ``obs, reward, terminated, truncated, info``."""
        if self._task is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._done:
            raise gym.error.ResetNeeded("the episode is over; call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(
                f"an action is the model's message as a str, got {type(action).__name__}"
            )
        parsed = parse_action(action, self._tools)
        result = None
        if isinstance(parsed, ToolCall):
            result = self._tools[parsed.name](parsed.arguments, task=self._task)
            if result.image is not None:
                self._images.append(result.image)
        self._turns.append(Turn(text=action, action=parsed, result=result))
        terminated = isinstance(parsed, Answer)
        truncated = not terminated and len(self._turns) >= self.max_turns
        reward = 0.0
        extra: dict[str, Any] = {}
        if terminated or truncated:
            self._done = True
            trajectory = Trajectory(
                task_id=self._task.id, turns=tuple(self._turns), truncated=truncated
            )
            reward, components = self.rubric.score(trajectory, self._task)
            extra = {"trajectory": trajectory, "rewards": components}
        observation, info = self._observation_and_info()
        return observation, float(reward), terminated, truncated, info | extra

    @property
    def trajectory(self) -> Trajectory | None:
        """The episode so far (None before the first reset); what rewards read at its end."""
        if self._task is None:
            return None
        return Trajectory(task_id=self._task.id, turns=tuple(self._turns))

    def render(self) -> np.ndarray | str | None:
        """The latest image (``rgb_array``) or the transcript (``ansi``)."""
        if self._task is None or self.render_mode is None:
            return None
        if self.render_mode == "rgb_array":
            return self._images[-1].copy()
        return render_transcript(self._messages())

    def _messages(self) -> list[dict[str, Any]]:
        assert self._task is not None
        return build_messages(self._system, self._task.question, self._turns)

    def _observation_and_info(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A fresh observation and info (no object shared with any earlier call)."""
        assert self._task is not None
        messages = self._messages()
        observation = {
            "text": render_transcript(messages),
            "images": tuple(image.copy() for image in self._images),
        }
        info = {
            "task_id": self._task.id,
            "turn": len(self._turns),
            "max_turns": self.max_turns,
            "messages": messages,
            "tools": json.loads(self._tools_json),
        }
        return observation, info
