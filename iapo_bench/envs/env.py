"""``ToolUseEnv``: the one Gymnasium environment every task family plugs into.

An episode shows one task's image and question. Each ``step`` takes one model message (a
string), parses it with :func:`~iapo_bench.tools.parse_action`, runs the tool it calls (whose
image, if any, joins the observation) and ends on an answer or at ``max_turns``. The reward is
0 until the end, then the rubric's total; a truncated episode is scored too (no answer).

Whatever the agent writes, an observation stays within ``observation_space`` (a
:class:`~iapo_bench.envs.spaces.ToolUseObservation`): a message longer than
``max_action_length`` is a ``ParseError(too_long)`` and is stored cut, parse errors quote at
most :data:`~iapo_bench.tools.parser.MAX_ERROR_MESSAGE_LENGTH` characters, a tool's text at
most :data:`MAX_TOOL_TEXT_LENGTH`, a question holds at most :data:`MAX_QUESTION_LENGTH` and an
image at most :data:`MAX_IMAGE_SIDE` pixels a side, and the transcript's ``max_length`` is
computed from these bounds. Bounded observations also let ``AsyncVectorEnv`` keep them in
shared memory, its default.
"""

from __future__ import annotations

import functools
import json
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from PIL import Image

from iapo_bench.chat import (
    IMAGE_PLACEHOLDER,
    PromptStyle,
    build_messages,
    render_transcript,
    system_prompt,
)
from iapo_bench.core import (
    Answer,
    ParseError,
    ParseErrorKind,
    Split,
    Task,
    ToolCall,
    ToolResult,
    Trajectory,
    Turn,
    as_image,
    clean_text,
)
from iapo_bench.envs.family import (
    SPLIT_SEEDS,
    TaskFamily,
    TaskSource,
    get_family,
    load_task,
    split_seed,
)
from iapo_bench.envs.spaces import ToolUseObservation, UnicodeText
from iapo_bench.rewards.rubric import Rubric
from iapo_bench.tools.base import Tool
from iapo_bench.tools.parser import (
    MAX_ERROR_MESSAGE_LENGTH,
    parse_action,
    truncate_text,
)

__all__ = ["MAX_IMAGE_SIDE", "MAX_QUESTION_LENGTH", "MAX_TOOL_TEXT_LENGTH", "ToolUseEnv"]

_SPLITS = ("train", "validation", "test")

MAX_TOOL_TEXT_LENGTH = 8_192
"""The longest tool text (or tool error) a turn keeps, marker included; longer ones are cut.
Tools echo their arguments (a list of 30,000 labels) and OCR reads whole pages; the shipped
tools write under 1,000 characters."""

MAX_QUESTION_LENGTH = 4_096
"""The longest question a task may ask (the shipped families ask under 300 characters);
``reset`` refuses a task with a longer one, which the observation space has no room for."""

MAX_IMAGE_SIDE = 4_096
"""The longest side of an observed image: ``reset`` refuses a task whose image is larger (the
file loaders scale theirs down to it), and a tool image over it is scaled down to fit (a
generated 640-pixel chart zoomed 4x is 2,560 pixels; a loaded 4,096-pixel page zoomed is not)."""


@functools.lru_cache(maxsize=64)  # a family has a handful of tool sets
def _prompts(tools: tuple[Tool, ...], style: PromptStyle) -> tuple[str, str]:
    """The system prompt and the tools' JSON (parsed anew for each info) of a tool set."""
    schemas = [t.schema for t in tools]
    return system_prompt(schemas, style), json.dumps(schemas)


class ToolUseEnv(gym.Env[dict[str, Any], str]):
    """A multimodal tool-use task as a Gymnasium environment.

    Observation: ``{"text": transcript with <image> marks, "images": tuple of uint8 HxWx3}``,
    fresh objects on every call. Action: the model's message, a ``str``. ``info`` holds the
    task id, the turn count, the OpenAI-format ``messages``, the ``tools`` schemas and the
    family's ``prompt_style`` (how the system prompt lists them), and at the end the
    ``trajectory`` and every reward component (``rewards``). Hidden data (the reference
    answer, the tool metadata) is never in the observation or ``info``.

    Args:
        family: A registered family name (``"chart"``) or a :class:`TaskFamily`.
        split: Which seed range ``reset`` draws from: ``"train"``, ``"validation"``, ``"test"``.
        difficulty: Difficulty level; ``None`` takes the family's default.
        max_turns: Messages allowed before truncation (at least 2: a call and an answer).
        rubric: A :class:`Rubric` or spec string; ``None`` takes the family's default. A
            rubric built here (from a spec) is closed by :meth:`close`.
        render_mode: ``"rgb_array"`` (the latest image) or ``"ansi"`` (the transcript).
        max_action_length: The longest message, in characters, that ``step`` reads; a longer
            one is a ``ParseError(too_long)``.
        source: Tasks from local files instead of the family's generator: a spec
            ``"format:path"`` (:func:`~iapo_bench.envs.loaders.open_source`, e.g.
            ``"chartqa:/data/ChartQA Dataset/test"``) or an opened source of this family.
            ``reset(seed=s)`` then plays record ``s`` of the files (mod their number; ``split`` and
            ``difficulty`` do not apply), and the rubric defaults to the format's.

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
        source: str | TaskSource | None = None,
    ) -> None:
        self.family = get_family(family) if isinstance(family, str) else family
        self.source = _open_source(source, self.family) if source is not None else None
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
        if not isinstance(max_action_length, int) or max_action_length < 1:
            raise ValueError(f"max_action_length must be an int >= 1, got {max_action_length!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.split: Split = split
        self.difficulty = difficulty
        self.max_turns = max_turns
        default_rubric = (self.source or self.family).default_rubric
        self.rubric = (
            Rubric.parse(rubric or default_rubric) if not isinstance(rubric, Rubric) else rubric
        )
        self._owns_rubric = not isinstance(rubric, Rubric)  # built here: close() closes it
        self.render_mode = render_mode
        self.action_space = UnicodeText(max_length=max_action_length)
        # What a message too long to read is stored as: its start, then this marker. The
        # stored text is itself too long, so replaying a recorded episode gives the same turn.
        self._cut_marker = f"\n[cut by the env: over {max_action_length} characters]"
        # Every task's system prompt lists a subset of the family's tools: the full list is
        # the longest.
        self._prefix_bound, turn_bound = _transcript_bounds(
            system_prompt([t.schema for t in self.family.tools], self.family.prompt_style),
            max_action_length + len(self._cut_marker),
        )
        self.observation_space: ToolUseObservation = ToolUseObservation(
            max_text_length=self._prefix_bound + max_turns * turn_bound,
            max_images=max_turns + 1,  # the task's image, then at most one a turn
            max_side=MAX_IMAGE_SIDE,
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
        ``difficulty`` overrides the env's level for this episode. With a ``source``, ``seed``
        is the record's index in its files, modulo their number (a random one when ``None``).
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
        elif self.source is not None:
            if "difficulty" in options:
                raise ValueError("a task from files has no difficulty levels; drop 'difficulty'")
            count = len(self.source)
            # Any seed is valid in Gymnasium: seeds 0..n-1 are the files' records in order.
            index = seed % count if seed is not None else int(self.np_random.integers(count))
            task = load_task(self.source.task_id(index))
        else:
            difficulty = int(options.get("difficulty", self.difficulty))
            index = (
                seed
                if seed is not None
                else int(self.np_random.integers(len(SPLIT_SEEDS[self.split])))
            )
            generator_seed = split_seed(self.split, index)
            task = load_task(self.family.task_id(self.split, difficulty, generator_seed))
        if len(task.question) > MAX_QUESTION_LENGTH:
            raise ValueError(
                f"task {task.id!r} asks a question of {len(task.question)} characters; the "
                f"observation space has room for MAX_QUESTION_LENGTH = {MAX_QUESTION_LENGTH}"
            )
        if max(task.image.shape[:2]) > MAX_IMAGE_SIDE:
            raise ValueError(
                f"task {task.id!r} shows an image of {task.image.shape[1]}x{task.image.shape[0]}"
                f" pixels; the observation space has room for MAX_IMAGE_SIDE = {MAX_IMAGE_SIDE}"
                " a side"
            )
        tools = self.family.tools_for(task)
        system, tools_json = _prompts(tools, self.family.prompt_style)
        prefix = len(render_transcript(build_messages(system, task.question, [])))
        if prefix > self._prefix_bound:  # tools_for gave tools that family.tools lacks
            raise ValueError(
                f"task {task.id!r}: its system prompt and question make a transcript of "
                f"{prefix} characters before any turn, over the {self._prefix_bound} the "
                "observation space has room for (its system prompt lists tools that the "
                "family's tools do not)"
            )
        self._task = task
        self._tools = {t.name: t for t in tools}
        self._system, self._tools_json = system, tools_json
        self._images = [task.image]
        self._turns = []
        self._done = False
        return self._observation_and_info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Take one message; returns ``obs, reward, terminated, truncated, info``.

        The message is first made valid Unicode (:func:`~iapo_bench.core.clean_text`): each
        lone surrogate code point (U+D800 to U+DFFF, from a broken decoder), which UTF-8
        cannot encode and the harness's JSON records could not hold, becomes U+FFFD; NUL and
        other control characters pass unchanged. A message longer than ``max_action_length``
        characters is not parsed: it is a ``ParseError(too_long)``, shown to the agent like any
        parse error (the episode goes on), and its turn keeps the first ``max_action_length``
        characters followed by a marker, so the trajectory, ``info`` and every later
        observation stay bounded and a replay of the recorded text is too long again. A
        tool's text and error are cut to :data:`MAX_TOOL_TEXT_LENGTH` characters, with a
        marker, and an image with a side over :data:`MAX_IMAGE_SIDE` is scaled down to fit.

        Raises ``TypeError`` when ``action`` is not a ``str`` (a programming error, not the
        agent's), and ``ResetNeeded`` before a reset or after the episode's end.
        """
        if self._task is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._done:
            raise gym.error.ResetNeeded("the episode is over; call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(
                f"an action is the model's message as a str, got {type(action).__name__}"
            )
        limit = self.action_space.max_length
        too_long = len(action) > limit
        text = action[:limit] if too_long else action
        text = clean_text(text)  # one character for one: the length is kept
        parsed: ToolCall | Answer | ParseError
        if too_long:
            text += self._cut_marker
            parsed = ParseError(
                error=ParseErrorKind.TOO_LONG,
                message=f"the message is longer than {limit} characters, so it was not read",
            )
        else:
            parsed = parse_action(text, self._tools)
        result = None
        if isinstance(parsed, ToolCall):
            result = _bounded(self._tools[parsed.name](parsed.arguments, task=self._task))
            if result.image is not None:
                self._images.append(result.image)
        self._turns.append(Turn(text=text, action=parsed, result=result))
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

    @property
    def images(self) -> tuple[np.ndarray, ...]:
        """The episode's images so far, the env's own read-only arrays (no copies).

        Observations copy their images, as Gymnasium asks; a trainer that keeps G rollouts of
        one task reads these instead, so each image is held once in memory.
        """
        return tuple(self._images)

    def close(self) -> None:
        """Close the rubric the env built from a spec (its LLM judge's thread, client, cache).

        A :class:`Rubric` passed in is its caller's to close. Safe to repeat.
        """
        if self._owns_rubric:
            self.rubric.close()
        super().close()

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
            "prompt_style": self.family.prompt_style,
        }
        return observation, info


def _open_source(source: str | TaskSource, family: TaskFamily) -> TaskSource:
    """``source`` opened (a spec) and checked to hold tasks of ``family``."""
    if isinstance(source, str):
        from iapo_bench.envs.loaders import open_source  # the loaders build on this package

        source = open_source(source)
    if source.family != family.name:
        raise ValueError(
            f"source {getattr(source, 'spec', source)!r} holds {source.family} tasks; make it "
            f"with the {source.family} env, not the {family.name} one"
        )
    return source


def _longest_rendering(length: int) -> str:
    """A text of ``length`` characters that renders longest in a transcript.

    Rendering changes the length of a text in one way only: each ``<image>`` in it is written
    ``< image>``, one character more, so that the marks count the images.
    """
    mark = IMAGE_PLACEHOLDER
    return mark * (length // len(mark)) + "x" * (length % len(mark))


def _transcript_bounds(system: str, max_message_length: int) -> tuple[int, int]:
    """The longest transcript before any turn, and the most characters one turn adds to it.

    Measured on the real rendering of the longest pieces the bounds allow: ``system``, a
    question of :data:`MAX_QUESTION_LENGTH`, and turns whose message, parse error message and
    tool text (an error, with an image) are as long as allowed. A transcript is its messages
    joined, so a turn adds the same whatever came before it.
    """
    question = _longest_rendering(MAX_QUESTION_LENGTH)
    message = _longest_rendering(max_message_length)
    tool_text = _longest_rendering(MAX_TOOL_TEXT_LENGTH)
    error_message = _longest_rendering(MAX_ERROR_MESSAGE_LENGTH)
    turns = [
        Turn(text=message, action=ParseError(error=kind, message=error_message))
        for kind in ParseErrorKind
    ]
    turns.append(
        Turn(
            text=message,
            action=ToolCall(name="tool"),
            result=ToolResult(text=tool_text, error=tool_text, image=np.zeros((1, 1, 3), np.uint8)),
        )
    )
    turns.append(Turn(text=message, action=Answer(text="")))

    def length(turns: list[Turn]) -> int:
        return len(render_transcript(build_messages(system, question, turns)))

    prefix = length([])
    return prefix, max(length([turn]) - prefix for turn in turns)


def _bounded(result: ToolResult) -> ToolResult:
    """``result`` with its text and error cut and its image scaled down to the env's bounds."""
    update: dict[str, Any] = {}
    text = result.text
    if len(text) > MAX_TOOL_TEXT_LENGTH:
        text = truncate_text(text, MAX_TOOL_TEXT_LENGTH)
    if result.error is not None and len(result.error) > MAX_TOOL_TEXT_LENGTH:
        update["error"] = truncate_text(result.error, MAX_TOOL_TEXT_LENGTH)
    image = result.image
    if image is not None and max(image.shape[:2]) > MAX_IMAGE_SIDE:
        height, width = image.shape[:2]
        scale = MAX_IMAGE_SIDE / max(height, width)
        size = (
            max(1, min(MAX_IMAGE_SIDE, round(width * scale))),
            max(1, min(MAX_IMAGE_SIDE, round(height * scale))),
        )
        update["image"] = as_image(
            np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
        )
        note = f" (image scaled down from {width}x{height} to {size[0]}x{size[1]} pixels)"
        text = truncate_text(text, MAX_TOOL_TEXT_LENGTH - len(note)) + note
    if text != result.text:
        update["text"] = text
    return result.model_copy(update=update) if update else result
