"""Outcome rewards that compare the final answer with the reference.

- :func:`normalize_text` / :func:`parse_number`: the normalisation both rewards share.
- :func:`exact_match`: 1 when the normalised answer equals the reference (numbers by value).
- :func:`relaxed_accuracy`: ChartQA's relaxed accuracy: numbers within 5% of the reference,
  anything else by exact match.

Each is a :data:`~iapo_bench.rewards.rubric.Reward`: ``(trajectory, task) -> float | None``.
An episode without an answer (truncated) scores 0.
"""

from __future__ import annotations

import re
import unicodedata

from iapo_bench.core import AnswerType, Task, Trajectory

__all__ = ["exact_match", "normalize_text", "parse_number", "relaxed_accuracy"]

_NUMBER = re.compile(r"\A[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\Z")
_CURRENCY = "$€£¥"


def normalize_text(text: str) -> str:
    """Case-folded, NFKC-normalised, without punctuation, articles and extra spaces.

    >>> normalize_text("  The  Peru. ")
    'peru'
    """
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = re.sub(r"[\"'`“”‘’.,;:!?()\[\]{}]", " ", text)
    words = text.split()
    # Articles go, unless nothing else is left ("A" may be a choice label).
    content = [w for w in words if w not in {"the", "a", "an"}]
    return " ".join(content or words)


def parse_number(text: str) -> float | None:
    """The number written in ``text``, forgiving thousands separators, currency and percent.

    >>> parse_number("$1,234.50"), parse_number("12%"), parse_number("Peru")
    (1234.5, 12.0, None)
    """
    text = unicodedata.normalize("NFKC", text).strip().rstrip(".")
    text = text.strip(_CURRENCY).rstrip("%").strip().replace(",", "").replace(" ", "")
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if value == value and abs(value) != float("inf") else None


def _prediction(trajectory: Trajectory) -> str | None:
    answer = trajectory.answer
    return None if answer is None else answer.text


def exact_match(trajectory: Trajectory, task: Task) -> float:
    """1.0 when the answer matches the reference after normalisation, else 0.0.

    Number answers compare by value ("1,234.50" equals "1234.5"); others by normalised text.
    """
    predicted = _prediction(trajectory)
    if predicted is None:
        return 0.0
    if task.answer_type is AnswerType.NUMBER:
        got, want = parse_number(predicted), parse_number(task.answer)
        if got is not None and want is not None:
            return float(got == want)
    return float(normalize_text(predicted) == normalize_text(task.answer))


def relaxed_accuracy(trajectory: Trajectory, task: Task, tolerance: float = 0.05) -> float:
    """ChartQA's relaxed accuracy: a number within ``tolerance`` (relative) of the reference.

    Non-numeric answers fall back to :func:`exact_match`, as in ChartQA's definition; a zero
    reference needs an exact zero.
    """
    predicted = _prediction(trajectory)
    if predicted is None:
        return 0.0
    want = parse_number(task.answer)
    got = parse_number(predicted)
    if want is not None and got is not None:
        if want == 0:
            return float(got == 0)
        return float(abs(got - want) / abs(want) <= tolerance)
    return exact_match(trajectory, task)
