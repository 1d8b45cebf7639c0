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
- :func:`rubric_reward`: the reward function: each completion's final message is stepped
  into its environment as the answer and scored by the env's :class:`~iapo_bench.rewards.Rubric`
  (every component logged as ``rubric/<name>``).
- :class:`AttributionReward`: IAPO's penalty -lambda * D of the first decision, as a reward
  function (it needs the trainer's model and a teacher; see its docstring).
- :func:`check_completion_length`: warns when ``max_completion_length`` is shorter than a
  tool call and its result, which TRL drops silently; the reward warns too when it sees it.

Everything here needs the ``[train]`` extra (torch, transformers, trl, datasets); the
processor to pass TRL is :func:`iapo_bench.models.processor.build_processor`'s (our chat
template can express tool calls, Qwen2.5-VL's stock one cannot).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from PIL import Image

from iapo_bench.chat import build_messages, parse_error_feedback, system_prompt, tool_result_text
from iapo_bench.core import ParseError, ToolCall, Trajectory
from iapo_bench.envs import family_for_env_id, get_family, load_task, open_source
from iapo_bench.envs.family import SPLIT_SEEDS, get_source, is_file_version, parse_task_id
from iapo_bench.tools.base import Tool
from iapo_bench.tools.parser import format_tool_call

__all__ = [
    "AttributionReward",
    "ToolUseEnvironment",
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

    Each call is stepped into a :class:`~iapo_bench.envs.ToolUseEnv` as the canonical
    ``<tool_call>`` text of its name and arguments, so a call with bad arguments gets the
    env's own error message, and the trajectory the rubric scores is the env's. The episode
    allows ``max_turns`` messages (calls and the answer); a call past the limit raises,
    which TRL reports to the model as an error.
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
        self._over = False
        self._calls = 0
        self._scored: tuple[float, dict[str, float | None]] | None = None

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
            source = get_source(family, version) if is_file_version(version) else None
            env = gym.make(
                type(self).env_id,
                max_turns=type(self).max_turns,
                rubric=type(self).rubric,
                source=source,
            )
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
        turn = self._env.unwrapped.trajectory.turns[-1]
        if isinstance(turn.action, ParseError):
            return [{"type": "text", "text": parse_error_feedback(turn.action)}]
        blocks: list[dict[str, Any]] = [{"type": "text", "text": tool_result_text(turn)}]
        if turn.result is not None and turn.result.image is not None:
            blocks.append({"type": "image", "image": Image.fromarray(turn.result.image)})
        return blocks

    def _finish(self, completion: Any) -> tuple[float, dict[str, float | None]]:
        """Step the completion's final message as the answer; the rubric's total and parts.

        A completion that ends without a final message (TRL stopped it at its length or
        tool-call limit) or whose final message is not an answer is scored as truncated,
        as the env scores an episode that ran out of turns. Scored once per episode.
        """
        if self._scored is not None:
            return self._scored
        if self._env is None or self._task_id is None:
            raise RuntimeError("reset() the environment before scoring it")
        text = _final_text(completion)
        if text is not None and not self._over:
            _, reward, terminated, truncated, info = self._env.step(text)
            self._over = terminated or truncated
            if self._over:
                self._scored = (float(reward), dict(info["rewards"]))
        if self._scored is None:
            env = self._env.unwrapped
            turns = env.trajectory.turns
            trajectory = Trajectory(task_id=self._task_id, turns=turns, truncated=True)
            total, components = env.rubric.score(trajectory, load_task(self._task_id))
            self._scored = (float(total), dict(components))
        _warn_if_dropped(self._calls, completion, self._task_id)
        return self._scored

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task_id={self._task_id!r})"


def _final_text(completion: Any) -> str | None:
    """The text of a completion's last message when it is the model's, with no tool call."""
    if isinstance(completion, str):
        return completion
    if not completion:
        return None
    last = completion[-1]
    if last.get("role") != "assistant" or last.get("tool_calls"):
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content or [] if part.get("type") == "text")


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


def task_ids(
    env_id: str,
    *,
    split: str = "train",
    size: int | None = None,
    seed: int = 0,
    difficulty: int | None = None,
    source: str | None = None,
    frozen_test_list: bool = False,
) -> list[str]:
    """The task ids of a split's seeds, a frozen test list, or local files.

    ``source`` (``"format:path"``): the files' tasks (the first ``size``).
    ``frozen_test_list``: the env's frozen test list (the first ``size``). Otherwise
    ``size`` (default 64) tasks of ``split`` from seed ``seed`` on, at ``difficulty`` or
    cycling the family's levels.
    """
    family = family_for_env_id(env_id)
    if source is not None:
        opened = open_source(source)
        if opened.family != family.name:
            raise ValueError(f"source {source!r} holds {opened.family} tasks, not {env_id}'s")
        return list(opened.task_ids(size))
    if frozen_test_list:
        ids = list(family.frozen_test_list().task_ids)
        return ids if size is None else ids[:size]
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_SEEDS)}, got {split!r}")
    count = 64 if size is None else size
    levels = family.difficulties if difficulty is None else (difficulty,)
    start = SPLIT_SEEDS[split].start + seed
    return [
        family.task_id(split, levels[i % len(levels)], start + i)  # type: ignore[arg-type]
        for i in range(count)
    ]


def prompt_dataset(
    env_id: str,
    ids: Sequence[str] | None = None,
    **selection: Any,
) -> Any:
    """A ``datasets.Dataset`` of TRL prompts, one row per task id, in order (replayable).

    ``ids`` gives the tasks; otherwise ``selection`` picks them (:func:`task_ids`:
    ``split``, ``size``, ``seed``, ``difficulty``, ``source``, ``frozen_test_list``).
    Columns: ``prompt`` (the env's system message, with the tools' schemas, and the user
    message: an image placeholder and the question), ``images`` (the task's image),
    ``task_id`` (what ``reset`` replays), ``environment`` and ``tools`` (the row's tool set,
    for :func:`environment_factories`).

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
        messages = build_messages(system_prompt([t.schema for t in tools]), task.question, [])
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
    """Each completion's answer scored by its environment's rubric (a TRL reward function).

    The completion's final message is the answer (stepped into the env, so it is parsed as
    in evaluation); a completion that ends on a tool call or without an answer is scored as
    a truncated episode. Every rubric component is logged as ``rubric/<name>`` (its mean
    over the completions where it voted).
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
            prompts_out.append(first_turn_prompt(task, environment._tools))
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
    """Tokens one tool call and its result take on ``env_id``; warns when they do not fit.

    Measured on a real episode (``task_id``, default the first training task): the oracle's
    call (or the first tool's on the whole image), the tool message with its image tokens,
    and an answer. TRL drops a tool result that would overflow ``max_completion_length``
    without a word, so a shorter setting trains on calls whose results never arrive.
    """
    from iapo_bench.baselines.scripted import OracleAgent
    from iapo_bench.models.inputs import image_token_count

    family = family_for_env_id(env_id)
    task = load_task(task_id or family.task_id("train", family.default_difficulty, 0))
    tools = family.tools_for(task)
    call = OracleAgent.tool_call(task, {t.name for t in tools})
    if call is None:
        height, width = task.image.shape[:2]
        first = tools[0]
        takes_box = "box" in first.schema["function"]["parameters"]["properties"]
        call = ToolCall(
            name=first.name, arguments={"box": [0, 0, width, height]} if takes_box else {}
        )
    result = {t.name: t for t in tools}[call.name](call.arguments, task=task)
    tokenizer = getattr(processing_class, "tokenizer", processing_class)
    text = format_tool_call(call) + "<tool_response>\n" + (result.error or result.text)
    needed = len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 16  # turn markers
    if result.image is not None:
        needed += image_token_count(processing_class, result.image)
    needed += len(tokenizer("<answer>0000</answer>", add_special_tokens=False)["input_ids"])
    if max_completion_length < needed:
        warnings.warn(
            f"GRPOConfig.max_completion_length={max_completion_length} is shorter than a "
            f"{call.name} call and its result on {env_id} (about {needed} tokens with the "
            "answer): TRL drops such results silently, so the model never sees them; raise "
            "max_completion_length",
            UserWarning,
            stacklevel=2,
        )
    return needed
