"""TRL's ``GRPOTrainer(environment_factory=...)`` on any env id: tools, prompts and rewards.

TRL (1.16) makes one environment per rollout from a zero-argument factory, calls
``reset(**row)`` with the dataset row, offers every public method but ``reset`` and
``get_reward`` as a tool (its schema read from the type hints and the Google-style
docstring), and reads a tool's image results from ``[{"type": "image", "image": PIL}, ...]``
blocks. The environment never sees the final answer, so scoring is a reward function that
TRL calls with ``environments=`` beside the completions. Tools are read once per factory
class, so tasks with different tool lists (charts whose files record different boxes) need
the dict form of ``environment_factory`` and an ``environment`` column naming each row's.

- :func:`prompt_dataset`: a ``datasets.Dataset`` of prompts, one row per task id (a split's
  seeds, a frozen test list, local files, or ids given), with the columns TRL and the
  environments read: ``prompt``, ``images``, ``task_id``, ``environment``, ``tools``.
- :func:`environment_factories`: the dict for ``environment_factory``, one class per tool set
  of the dataset (:func:`environment_class` builds one).
- :class:`ToolUseEnvironment`: the base of those classes: a plain class (not a ``gym.Env``)
  around a :class:`~iapo_bench.envs.ToolUseEnv`, whose public methods are the env's tools with
  their real names, arguments and descriptions. A call steps the env with the call, so it
  is parsed, validated and answered exactly as in evaluation; a result with an image comes
  back as a text block and an image block.
- :func:`rubric_reward`: the reward function: each completion's assistant messages are
  replayed through a fresh episode, one action a message as in evaluation, and scored by the
  env's :class:`~iapo_bench.rewards.Rubric` (every component logged as ``rubric/<name>``).
  TRL runs every tool call of a message; the env scores a message with several calls as one
  ``several_actions`` parse error, and so does the reward.
- :class:`AttributionReward`: IAPO's penalty -lambda * D of the first decision, as a reward
  function (it needs the trainer's model and a teacher; see its docstring).
- :func:`check_completion_length`: warns when ``max_completion_length`` is shorter than the
  largest tool call and its result (:func:`broadest_calls`), which TRL would drop silently;
  the reward warns too when it sees a dropped result.

Everything here needs the ``[train]`` extra (torch, transformers, trl, datasets); the
processor to pass TRL is :func:`iapo_bench.models.processor.build_processor`'s (our chat
template can express tool calls, Qwen2.5-VL's stock one cannot).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from PIL import Image

from iapo_bench.adapters._replay import Score, actions, make_env, replay
from iapo_bench.chat import PromptStyle, first_messages, parse_error_feedback, tool_result_text
from iapo_bench.core import ParseError, Split, Task, ToolCall, Turn
from iapo_bench.envs import family_for_env_id, get_family, load_task, open_source
from iapo_bench.envs.family import SPLIT_SEEDS, is_file_version, parse_task_id
from iapo_bench.tools.base import Tool
from iapo_bench.tools.parser import format_tool_call

__all__ = [
    "DEFAULT_SIZE",
    "AttributionReward",
    "ToolUseEnvironment",
    "broadest_calls",
    "check_completion_length",
    "environment_class",
    "environment_factories",
    "prompt_dataset",
    "rubric_reward",
    "task_ids",
]


class ToolUseEnvironment:
    """One rollout of an env id for TRL: ``reset(task_id=...)``, then its tools as methods.

    Subclasses are made by :func:`environment_class`, one per tool set; TRL makes an
    instance per rollout and reuses it (``reset``) across batches. Attributes are
    underscored: TRL would offer any public method to the model as a tool.

    During the rollout, each call is stepped into a :class:`~iapo_bench.envs.ToolUseEnv` as
    the canonical ``<tool_call>`` text of its name and arguments, so a call with bad
    arguments gets the env's own error message. The score is not that episode's: TRL runs
    every call of a message, one step each, where the env reads a message as one action. So
    :func:`rubric_reward` replays the completion's assistant messages through a fresh
    episode, one action a message, and the rubric scores that (a message with several calls
    is one ``several_actions`` parse error, as in evaluation). The episode allows
    ``max_turns`` messages (calls and the answer); a call past the limit raises, which TRL
    reports to the model as an error. The rollout counts calls, not messages (TRL runs a
    message's calls one by one and says nothing between messages), so after a message with
    several calls it refuses calls sooner than the scored replay ends the episode.
    """

    env_id: ClassVar[str] = ""
    """The Gymnasium id whose tasks and tools these are."""
    tool_names: ClassVar[tuple[str, ...]] = ()
    """The tools offered (the methods this class defines)."""
    max_turns: ClassVar[int] = 4
    """Messages allowed per episode (tool calls and the final answer)."""
    rubric: ClassVar[str | None] = None
    """A rubric spec for every task, or None for each task's default (its format's, for
    tasks from files)."""

    def __init__(self) -> None:
        self._envs: dict[tuple[str, str], gym.Env] = {}
        self._env: gym.Env | None = None
        self._task_id: str | None = None
        self._tools: list[dict[str, Any]] = []
        self._prompt_style: PromptStyle = "full"
        self._over = False
        self._calls = 0
        self._scored: Score | None = None

    def reset(self, **row: Any) -> None:
        """Start the row's task (``row["task_id"]``); the prompt is already in the dataset."""
        task_id = row.get("task_id")
        if not isinstance(task_id, str):
            raise ValueError(
                "each dataset row needs a 'task_id' column naming its task (prompt_dataset "
                f"makes one); this row has {sorted(row)}"
            )
        family, version, *_ = parse_task_id(task_id)
        key = (family, version if is_file_version(version) else "")
        env = self._envs.get(key)
        if env is None:
            cls = type(self)
            env = make_env(cls.env_id, task_id, max_turns=cls.max_turns, rubric=cls.rubric)
            self._envs[key] = env
        _, info = env.reset(options={"task_id": task_id})
        offered = {schema["function"]["name"] for schema in info["tools"]}
        if offered != set(type(self).tool_names):
            raise ValueError(
                f"task {task_id} has the tools {sorted(offered)}, but this environment offers "
                f"{sorted(type(self).tool_names)}: build the factories from the same dataset "
                "(environment_factories(dataset))"
            )
        self._env, self._task_id, self._tools = env, task_id, info["tools"]
        self._prompt_style = info["prompt_style"]
        self._over, self._scored, self._calls = False, None, 0

    def _call(self, name: str, arguments: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Step the call into the env; the tool message's content blocks (text, then image)."""
        if self._env is None:
            raise RuntimeError("reset() the environment before calling its tools")
        if self._over:
            raise RuntimeError(
                f"the episode is over: it allows {type(self).max_turns} messages "
                "(environment_class(max_turns=...))"
            )
        text = format_tool_call(ToolCall(name=name, arguments=dict(arguments)))
        self._calls += 1
        _, _, terminated, truncated, _ = self._env.step(text)
        self._over = terminated or truncated
        return _tool_blocks(self._env.unwrapped.trajectory.turns[-1])

    def _finish(self, completion: Any) -> Score:
        """The rubric's score of the completion, its assistant messages replayed.

        A fresh episode on the task takes each assistant message as one action, as in
        evaluation: a message with several tool calls is one ``several_actions`` parse error
        (and one turn), and a message's text is kept beside its calls. A completion that
        ends without an answer (TRL stopped it at its length or tool-call limit) is scored
        as truncated, as the env scores an episode that runs out of turns; messages after
        the episode's end are ignored. Scored once per episode: the rollout is over.
        """
        if self._scored is not None:
            return self._scored
        if self._env is None or self._task_id is None:
            raise RuntimeError("reset() the environment before scoring it")
        messages = (
            [{"role": "assistant", "content": completion}]
            if isinstance(completion, str)
            else completion
        )
        # The rollout's episode is done with: the replay resets the same env.
        self._scored = replay(self._env, self._task_id, actions(messages))
        self._over = True
        _warn_if_dropped(self._calls, completion, self._task_id)
        return self._scored

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task_id={self._task_id!r})"


def _tool_blocks(turn: Turn) -> list[dict[str, Any]]:
    """A turn's tool message as TRL's content blocks: text (or parse feedback), then image."""
    if isinstance(turn.action, ParseError):
        return [{"type": "text", "text": parse_error_feedback(turn.action)}]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": tool_result_text(turn)}]
    if turn.result is not None and turn.result.image is not None:
        blocks.append({"type": "image", "image": Image.fromarray(turn.result.image)})
    return blocks


def _warn_if_dropped(calls: int, completion: Any, task_id: str) -> None:
    """Warn when the env ran more calls than the completion holds tool results.

    TRL drops a tool result that would push the completion past ``max_completion_length``
    (or the model's context) and says nothing; the model then never saw what its call
    returned.
    """
    if isinstance(completion, str):
        return
    shown = sum(1 for message in completion if message.get("role") == "tool")
    if calls > shown:
        warnings.warn(
            f"TRL dropped {calls - shown} tool result(s) of task {task_id}: the call and its "
            "result did not fit in GRPOConfig.max_completion_length (or the model's context); "
            "raise max_completion_length (check_completion_length says how far)",
            RuntimeWarning,
            stacklevel=3,
        )


def _method(tool: Tool) -> Callable[..., list[dict[str, Any]]]:
    """A method with ``tool``'s name, arguments (type hints) and Google-style docstring.

    It takes any keyword arguments, so that the env validates them (and tells the model what
    is wrong, as in evaluation); its signature, which TRL's schema reads, is the tool's.
    """

    def method(self: ToolUseEnvironment, **arguments: Any) -> list[dict[str, Any]]:
        return self._call(tool.name, arguments)

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    lines = []
    for name, field in tool.arguments_model.model_fields.items():
        default = inspect.Parameter.empty if field.is_required() else field.default
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=field.annotation
            )
        )
        annotations[name] = field.annotation
        lines.append(f"    {name}: {' '.join((field.description or name).split())}")
    annotations["return"] = list
    method.__name__ = method.__qualname__ = tool.name
    method.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    method.__doc__ = tool.description + ("\n\nArgs:\n" + "\n".join(lines) if lines else "")
    return method


@functools.cache
def environment_class(
    env_id: str,
    tool_names: tuple[str, ...] | None = None,
    *,
    max_turns: int = 4,
    rubric: str | None = None,
) -> type[ToolUseEnvironment]:
    """The :class:`ToolUseEnvironment` class of ``env_id`` offering ``tool_names``.

    ``tool_names`` default to every tool of the env's family; they are offered in the
    family's order, and the same arguments give the same class. A class is TRL's
    zero-argument factory (``environment_factory=environment_class(...)``) when every task
    has the same tools (the OCR and search envs); charts need the dict form
    (:func:`environment_factories`).
    """
    family = family_for_env_id(env_id)
    tools = family.tools if tool_names is None else _tools(family.tools, tool_names, env_id)
    if max_turns < 2:
        raise ValueError(f"max_turns must be >= 2 (a call, then an answer), got {max_turns}")
    namespace: dict[str, Any] = {tool.name: _method(tool) for tool in tools}
    namespace.update(
        env_id=family.env_id,
        tool_names=tuple(t.name for t in tools),
        max_turns=max_turns,
        rubric=rubric,
        __doc__=f"{family.env_id} for TRL, offering: {', '.join(t.name for t in tools)}.",
        __module__=__name__,
    )
    suffix = _tool_set_key(namespace["tool_names"])
    name = "".join(part.title() for part in family.name.split("_")) + f"Environment_{suffix}"
    return type(name, (ToolUseEnvironment,), namespace)


def _tools(available: Sequence[Tool], names: Sequence[str], env_id: str) -> tuple[Tool, ...]:
    unknown = set(names) - {t.name for t in available}
    if unknown:
        raise ValueError(f"{env_id} has no tools {sorted(unknown)}")
    return tuple(t for t in available if t.name in names)


def _tool_set_key(names: Sequence[str]) -> str:
    return hashlib.sha1(",".join(sorted(names)).encode()).hexdigest()[:8]


def environment_name(env_id: str, tool_names: Sequence[str]) -> str:
    """The ``environment`` column's value for a tool set: ``'<env_id>/<8 hex digits>'``."""
    return f"{env_id}/{_tool_set_key(tool_names)}"


def environment_factories(
    dataset: Any, *, max_turns: int = 4, rubric: str | None = None
) -> dict[str, type[ToolUseEnvironment]]:
    """``environment_factory`` for ``dataset``: one class per ``environment`` value.

    ``dataset`` is :func:`prompt_dataset`'s (anything with its ``environment`` and ``tools``
    columns).
    """
    out: dict[str, type[ToolUseEnvironment]] = {}
    for name, tools in zip(dataset["environment"], dataset["tools"], strict=True):
        if name not in out:
            env_id = name.rsplit("/", 1)[0]
            out[name] = environment_class(env_id, tuple(tools), max_turns=max_turns, rubric=rubric)
    return out


DEFAULT_SIZE = 64
"""Tasks a dataset holds off the test split when no size is given."""


def task_ids(
    env_id: str,
    *,
    split: Split | None = None,
    size: int | None = None,
    seed: int = 0,
    difficulty: int | None = None,
    source: str | None = None,
    frozen_test_list: bool = False,
) -> list[str]:
    """The task ids of local files, a split's seeds, or the frozen test list.

    ``source`` (``"format:path"``): the files' tasks (the first ``size``). Otherwise the
    family's selection (:meth:`TaskFamily.task_ids <iapo_bench.envs.family.TaskFamily.task_ids>`,
    which the harness scores too): on the test split the env's frozen test list (its first
    ``size``; no ``seed`` or ``difficulty`` there), on ``split`` (default ``"train"``)
    ``size`` tasks (default :data:`DEFAULT_SIZE`) from seed index ``seed`` on, at
    ``difficulty`` or cycling the family's levels. ``frozen_test_list=True`` is
    ``split="test"``.
    """
    family = family_for_env_id(env_id)
    if source is not None:
        opened = open_source(source)
        if opened.family != family.name:
            raise ValueError(f"source {source!r} holds {opened.family} tasks, not {env_id}'s")
        return list(opened.task_ids(size))
    if frozen_test_list:
        if split not in (None, "test"):
            raise ValueError(f"frozen_test_list is the test split's list, not {split!r}'s")
        split = "test"
    split = split or "train"
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEEDS)}, got {split!r}")
    if split == "test":  # the whole list unless told: every leaderboard score is on it
        return family.task_ids("test", size, first_seed=seed, difficulty=difficulty)
    count = DEFAULT_SIZE if size is None else size
    return family.task_ids(split, count, first_seed=seed, difficulty=difficulty)


def prompt_dataset(
    env_id: str,
    ids: Sequence[str] | None = None,
    **selection: Any,
) -> Any:
    """A ``datasets.Dataset`` of TRL prompts, one row per task id, in order (replayable).

    ``ids`` gives the tasks; otherwise ``selection`` picks them (:func:`task_ids`:
    ``split``, ``size``, ``seed``, ``difficulty``, ``source``, ``frozen_test_list``).
    Columns: ``prompt`` (the env's system message, with the tools in the family's prompt
    style, and the user message: an image placeholder and the question), ``images`` (the
    task's image), ``task_id`` (what ``reset`` replays), ``environment`` and ``tools`` (the
    row's tool set, for :func:`environment_factories`).

    >>> rows = prompt_dataset("ToolUse-OCR-v0", size=2)  # doctest: +SKIP
    >>> rows[0]["task_id"], rows[0]["environment"]  # doctest: +SKIP
    ('ocr/v0/train/d0/0', 'ToolUse-OCR-v0/4b1c0d2e')
    """
    from datasets import Dataset

    family = family_for_env_id(env_id)
    chosen = list(ids) if ids is not None else task_ids(env_id, **selection)
    rows = []
    for task_id in chosen:
        task = load_task(task_id)
        if task.family != family.name:
            raise ValueError(f"task {task_id} is of family {task.family}, not {env_id}'s")
        tools = get_family(task.family).tools_for(task)
        names = [t.name for t in tools]
        messages = first_messages(task.question, [t.schema for t in tools], family.prompt_style)
        rows.append(
            {
                "prompt": [_parts(message) for message in messages],
                "images": [Image.fromarray(np.asarray(task.image))],
                "task_id": task_id,
                "environment": environment_name(family.env_id, names),
                "tools": names,
            }
        )
    return Dataset.from_list(rows)


def _parts(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message whose content is a list of parts (Arrow needs one type per column)."""
    content = message["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    return {"role": message["role"], "content": [dict(part) for part in content]}


def _environments(environments: Sequence[Any] | None, who: str) -> Sequence[ToolUseEnvironment]:
    if environments is None:
        raise ValueError(
            f"{who} scores through the rollouts' environments: give GRPOTrainer an "
            "environment_factory from environment_factories(dataset)"
        )
    for environment in environments:
        if not isinstance(environment, ToolUseEnvironment):
            raise TypeError(
                f"{who} needs iapo-bench environments, got {type(environment).__name__}"
            )
    return environments


def rubric_reward(
    prompts: Sequence[Any],
    completions: Sequence[Any],
    environments: Sequence[Any] | None = None,
    log_metric: Callable[[str, float], None] | None = None,
    **columns: Any,
) -> list[float]:
    """Each completion scored by its environment's rubric (a TRL reward function).

    The completion's assistant messages are replayed through a fresh episode of the task,
    one action a message, so they are parsed and scored as in evaluation: a message with
    several tool calls is one ``several_actions`` parse error, and a completion that ends
    on a tool call or without an answer is a truncated episode. Every rubric component is
    logged as ``rubric/<name>`` (its mean over the completions where it voted).
    """
    scored = [
        environment._finish(completion)
        for environment, completion in zip(
            _environments(environments, "rubric_reward"), completions, strict=True
        )
    ]
    if log_metric is not None:
        names = dict.fromkeys(name for _, components in scored for name in components)
        for name in names:
            values = [c[name] for _, c in scored if c.get(name) is not None]
            if values:
                log_metric(f"rubric/{name}", float(np.mean(values)))
    return [total for total, _ in scored]


class AttributionReward:
    """IAPO's attribution penalty -lambda * D of each rollout's first decision (a TRL reward).

    D = KL(q || p) between the teacher's and the student's block distributions of the
    student's own first decision, its generated token ids taken from ``completion_ids`` up
    to the first end-of-turn (never re-tokenized), on the first-turn prompt the env built
    (:func:`iapo_bench.rewards.attribution.first_turn_prompt`); see
    :func:`iapo_bench.rewards.attribution.attribution_penalty`.

    Wiring: TRL does not hand reward functions the model, so the reward holds the student:
    pass ``policy=(model, processor)`` with the very objects given to ``GRPOTrainer`` (the
    model is trained in place, so the reward always reads the current weights), or call
    :meth:`bind` with the trainer once it is built (what to do when the trainer wraps the
    model, e.g. with PEFT). The teacher is a ``(model, processor)`` pair or a
    :class:`~iapo_bench.baselines.vlm.TransformersVLMPolicy`; it is only read. Put it beside
    :func:`rubric_reward` with weight 1 (lambda is ``config.penalty_weight``)::

        reward = AttributionReward(teacher=(teacher_model, teacher_processor))
        trainer = GRPOTrainer(model, reward_funcs=[rubric_reward, reward], ...)
        reward.bind(trainer)

    It costs 2 x ``config.steps`` backward passes per rollout (IG on the student and the
    teacher); ``AttributionConfig(method="grad_x_input")`` costs one each.
    """

    def __init__(self, teacher: Any, policy: Any = None, config: Any = None) -> None:
        from iapo_bench.models.attribution import AttributionConfig

        self.teacher = teacher
        self.policy = policy
        self.config = config or AttributionConfig()
        self.__name__ = "iapo_attribution"  # TRL logs the reward under this name

    def bind(self, trainer: Any) -> AttributionReward:
        """Read the student from ``trainer`` (its model and processing class); returns self."""
        model = getattr(trainer, "model", None)
        processor = getattr(trainer, "processing_class", None)
        if model is None or processor is None:
            raise TypeError(f"{type(trainer).__name__} has no model and processing_class")
        self.policy = (model, processor)
        return self

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]],
        environments: Sequence[Any] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **columns: Any,
    ) -> list[float | None]:
        """One reward per completion (None where no decision was generated)."""
        from iapo_bench.rewards.attribution import attribution_penalty, first_turn_prompt

        if self.policy is None:
            raise ValueError("AttributionReward has no student: pass policy= or call bind()")
        envs = _environments(environments, "AttributionReward")
        processor = self.policy[1] if isinstance(self.policy, tuple) else self.policy.processor
        eos = processor.tokenizer.eos_token_id
        prompts_out, decisions, rows = [], [], []
        for row, (environment, ids) in enumerate(zip(envs, completion_ids, strict=True)):
            ids = list(ids)
            if not ids or environment._task_id is None:
                continue
            end = ids.index(eos) + 1 if eos in ids else len(ids)
            task = load_task(environment._task_id)
            prompts_out.append(
                first_turn_prompt(task, environment._tools, environment._prompt_style)
            )
            decisions.append(ids[:end])
            rows.append(row)
        out: list[float | None] = [None] * len(completion_ids)
        if not rows:
            return out
        penalties = attribution_penalty(
            self.policy, self.teacher, prompts_out, decisions, self.config
        )
        for row, penalty in zip(rows, penalties, strict=True):
            out[row] = penalty.reward
        if log_metric is not None:
            log_metric("iapo/D", float(np.mean([p.divergence for p in penalties])))
        return out


def check_completion_length(
    max_completion_length: int, processing_class: Any, env_id: str, task_id: str | None = None
) -> int:
    """Tokens the largest tool call and its result take on ``env_id``; warns when they do not fit.

    Measured on a real task (``task_id``, default the first training task at the family's
    default level) with the task's own tools: each tool is called with the broadest
    arguments its schema allows (:func:`broadest_calls`: a box is the whole image, a
    bounded number its maximum, such as a zoom's factor), each call the env accepts is
    stepped as in a rollout, and the largest one counts: the call, the tool message with its
    image tokens, and an answer. TRL drops a tool result that would overflow
    ``max_completion_length`` without a word, so a shorter setting trains on calls whose
    results never arrive. The image tokens are bounded by the processor's ``max_pixels``.

    Raises ``ValueError`` when no call built that way is accepted (pass another task).
    """
    from iapo_bench.models.inputs import image_token_count

    family = family_for_env_id(env_id)
    if task_id is None:
        task_id = family.task_ids("train", 1, difficulty=family.default_difficulty)[0]
    task = load_task(task_id)
    tokenizer = getattr(processing_class, "tokenizer", processing_class)

    def tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    answer = tokens("<answer>0000</answer>")
    measured: list[tuple[int, ToolCall]] = []
    # No episode ends here (one call a reset), so the cheapest rubric: never a judge's.
    env = make_env(family.env_id, task_id, max_turns=2, rubric="exact_match:1")
    try:
        for call in broadest_calls(family.tools_for(task), task):
            env.reset(options={"task_id": task_id})
            text = format_tool_call(call)
            env.step(text)  # bounded and validated as in a rollout (ToolUseEnvironment._call)
            turn = env.unwrapped.trajectory.turns[-1]
            if isinstance(turn.action, ParseError) or turn.result is None or turn.result.error:
                continue  # a call the tool refuses is no measure of its results
            # The call, its tool message and the answer, plus about 16 turn-marker tokens.
            needed = tokens(text + "<tool_response>\n" + tool_result_text(turn)) + 16 + answer
            if turn.result.image is not None:
                needed += image_token_count(processing_class, turn.result.image)
            measured.append((needed, call))
    finally:
        env.close()
    if not measured:
        raise ValueError(
            f"no tool of task {task_id} accepted a call built from its schema; pass the "
            "task_id of a task whose tools apply (check_completion_length(..., task_id=...))"
        )
    needed, call = max(measured, key=lambda pair: pair[0])
    if max_completion_length < needed:
        warnings.warn(
            f"GRPOConfig.max_completion_length={max_completion_length} is shorter than the "
            f"largest tool call on {env_id} and its result ({call.name} "
            f"{json.dumps(call.arguments)}: about {needed} tokens with the answer): TRL drops "
            "such results silently, so the model never sees them; raise "
            "max_completion_length (or lower the processor's max_pixels)",
            UserWarning,
            stacklevel=2,
        )
    return needed


def broadest_calls(tools: Sequence[Tool], task: Task) -> Iterator[ToolCall]:
    """Calls of each of ``tools`` on ``task`` with the broadest arguments their schemas allow.

    From each argument's JSON schema: a pixel box (four integers) is the whole image, a
    number with a maximum is that maximum, a string or list of strings is taken from the
    task's evidence keys (the labels, letters or ids its answer depends on), and an optional
    argument with no such value is left out. A tool with a required argument that none of
    these fit is skipped; an argument with several forms (a query of words or a box) gives
    a call for each. What a tool accepts is its own affair: the caller runs the calls.

    >>> from iapo_bench.envs import get_family
    >>> task = load_task(get_family("ocr").task_ids("train", 1)[0])
    >>> ocr, zoom = broadest_calls(get_family("ocr").tools, task)
    >>> height, width = task.image.shape[:2]
    >>> ocr.arguments == {"box": [0, 0, width, height]}, zoom.arguments["factor"]
    (True, 4.0)
    """
    for tool in tools:
        parameters = tool.schema["function"]["parameters"]
        required = set(parameters.get("required", ()))
        options: dict[str, list[Any]] = {}
        for name, schema in parameters.get("properties", {}).items():
            values = _broadest_values(schema, task)
            if values:
                options[name] = values
            elif name in required:
                break
        else:
            for values in itertools.product(*options.values()):
                yield ToolCall(name=tool.name, arguments=dict(zip(options, values, strict=True)))


def _broadest_values(schema: Mapping[str, Any], task: Task) -> list[Any]:
    """The broadest values of one argument's JSON schema on ``task`` (none when unknown)."""
    if "anyOf" in schema:
        return [value for option in schema["anyOf"] for value in _broadest_values(option, task)]
    kind = schema.get("type")
    if kind in ("number", "integer"):
        return [schema["maximum"]] if "maximum" in schema else []
    if kind == "string":
        return list(task.evidence[:1])
    if kind != "array":
        return []
    items = (schema.get("items") or {}).get("type")
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    if items == "integer" and low == high == 4:  # a pixel box: the whole image
        height, width = task.image.shape[:2]
        return [[0, 0, int(width), int(height)]]
    if items == "string":
        keys = list(task.evidence[:high])
        return [keys] if keys and len(keys) >= low else []
    return []
