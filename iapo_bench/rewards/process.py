"""Tool-use process signals: how an episode went, not only what it answered.

Each is a :data:`~iapo_bench.rewards.rubric.Reward` ``(trajectory, task) -> float | None``;
with weight 0 in a rubric they are metrics, with a weight they shape training.

- :func:`format_valid`: the share of messages that parsed as exactly one action.
- :func:`tool_call`: 1 when the episode called a tool (its mean is the tool-call rate).
- :func:`tool_success`: the share of calls that succeeded; abstains without calls.
- :func:`parse_errors` and ``parse_error_<kind>`` (:data:`PARSE_ERROR_REWARDS`): counts.
- :func:`turns`: the number of messages.
- :func:`execution_penalty`: ToRL's penalty for failed tool execution, which also charges an
  episode that called no tool on a task that has tools, so that the penalty never teaches
  the policy to stop calling tools (the IAPO paper's warning about such penalties).
- :func:`right_tool`: 1 when a successful call looked at the task's evidence, as its tool
  declares (:class:`~iapo_bench.core.Focus`): an evidence label named, a region over an
  evidence element, the evidence gallery item opened.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from iapo_bench.core import Box, Focus, ParseError, ParseErrorKind, Task, Trajectory

__all__ = [
    "PARSE_ERROR_REWARDS",
    "execution_penalty",
    "format_valid",
    "parse_errors",
    "right_tool",
    "tool_call",
    "tool_success",
    "turns",
]


def format_valid(trajectory: Trajectory, task: Task) -> float | None:
    """The share of the episode's messages that parsed as one action; abstains on none."""
    if not trajectory.turns:
        return None
    valid = sum(not isinstance(turn.action, ParseError) for turn in trajectory.turns)
    return valid / len(trajectory.turns)


def tool_call(trajectory: Trajectory, task: Task) -> float:
    """1.0 when the episode made at least one valid tool call."""
    return float(bool(trajectory.tool_calls))


def tool_success(trajectory: Trajectory, task: Task) -> float | None:
    """The share of the episode's tool calls that succeeded; abstains when it made none."""
    calls = trajectory.tool_calls
    if not calls:
        return None
    return sum(turn.result is not None and turn.result.ok for turn in calls) / len(calls)


def parse_errors(trajectory: Trajectory, task: Task) -> float:
    """How many messages did not parse as one action."""
    return float(len(trajectory.parse_errors))


def _parse_error_count(kind: ParseErrorKind, trajectory: Trajectory, task: Task) -> float:
    return float(sum(error.error is kind for error in trajectory.parse_errors))


PARSE_ERROR_REWARDS: dict[str, Callable[[Trajectory, Task], float]] = {
    f"parse_error_{kind.value}": functools.partial(_parse_error_count, kind)
    for kind in ParseErrorKind
}
"""Per-kind parse error counts, e.g. ``parse_error_malformed_json``."""


def turns(trajectory: Trajectory, task: Task) -> float:
    """How many messages the episode took."""
    return float(len(trajectory.turns))


def execution_penalty(trajectory: Trajectory, task: Task, penalty: float = 0.5) -> float:
    """``-penalty`` when a tool call failed, or when no tool was called on a task with tools.

    ToRL charges failed code execution. Charging only failures would make never calling a
    tool the safest policy, so an episode without a call pays the same: only calls that
    work escape the penalty.

    >>> from iapo_bench.core import Answer, Turn
    >>> blind = Trajectory(task_id="t", turns=(Turn(text="", action=Answer(text="4")),))
    >>> execution_penalty(blind, Task.model_construct(tool_names=("zoom",)))
    -0.5
    """
    calls = trajectory.tool_calls
    if not calls:
        return -penalty if task.tool_names else 0.0
    failed = any(turn.result is None or not turn.result.ok for turn in calls)
    return -penalty if failed else 0.0


def _overlap(a: Box, b: Box) -> float:
    """The share of ``b``'s area that ``a`` covers."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / max(1, b.width * b.height)


def _looks_at_evidence(focus: Focus, task: Task) -> bool:
    keys = {key.strip().casefold() for key in task.evidence}
    if keys & {key.strip().casefold() for key in (*focus.keys, *focus.items)}:
        return True
    evidence = [e.box for e in task.elements if e.key in task.evidence]
    return any(_overlap(region, target) >= 0.5 for region in focus.boxes for target in evidence)


def right_tool(trajectory: Trajectory, task: Task) -> float | None:
    """1.0 when a successful call looked at the evidence; abstains when none is recorded.

    Many calls are right (``zoom([10, 10, 50, 50])`` and ``zoom([12, 9, 51, 48])``; masking
    or highlighting a column; ``ocr`` of the whole page): a call counts when the
    :class:`~iapo_bench.core.Focus` its tool declared names an evidence key or item, or
    holds a region covering half an evidence element.
    """
    if not task.evidence:
        return None
    return float(
        any(
            turn.result is not None
            and turn.result.ok
            and turn.result.focus is not None
            and _looks_at_evidence(turn.result.focus, task)
            for turn in trajectory.tool_calls
        )
    )
