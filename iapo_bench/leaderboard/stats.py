"""Statistics of the leaderboard: bootstrap intervals, pass@k, pass^k and paired comparisons.

- :func:`bootstrap_ci`: a seeded percentile bootstrap interval of a mean. The board feeds it
  one value per *task* (the mean over that task's repeats), so the interval resamples tasks,
  the unit the frozen test lists sample, and repeats of one task never count as independent.
- :func:`pass_at_k`: the unbiased estimator of Chen et al. (2021, "Evaluating Large Language
  Models Trained on Code"): of ``n`` attempts at a task with ``c`` successes, the chance that
  at least one of ``k`` attempts drawn without replacement succeeds, ``1 - C(n-c, k) / C(n, k)``.
- :func:`pass_hat_k`: tau-bench's pass^k (Yao et al. 2024): the chance that *all* ``k`` drawn
  attempts succeed, ``C(c, k) / C(n, k)``: reliability rather than coverage.
- :func:`mean_pass_at_k`, :func:`mean_pass_hat_k`: the same averaged over tasks.
- :func:`paired_comparison`: two agents on the same tasks: the mean per-task difference with a
  bootstrap interval that resamples tasks, so each resample keeps the pairs together (much
  narrower than two separate intervals when the agents find the same tasks hard).
- :func:`rate`: a share whose denominator may be 0 (a tool-success rate without tool calls).

Every function is deterministic: the bootstrap draws from ``numpy.random.default_rng(seed)``.

>>> bootstrap_ci([1.0, 1.0, 1.0])
Interval(estimate=1.0, low=1.0, high=1.0, confidence=0.95)
>>> pass_at_k(n=5, c=2, k=2), pass_hat_k(n=5, c=2, k=2)
(0.7, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "Comparison",
    "Interval",
    "bootstrap_ci",
    "mean_pass_at_k",
    "mean_pass_hat_k",
    "paired_comparison",
    "pass_at_k",
    "pass_hat_k",
    "rate",
]

BOOTSTRAP_RESAMPLES = 2_000
"""Resamples of every bootstrap by default: the 2.5th and 97.5th percentiles of 2,000 means
sit on 50 draws each, enough for two stable decimals of a score."""

_CHUNK = 4_000_000
"""Most indices drawn at once (32 MB of int64), so that large samples resample in pieces."""


class Interval(BaseModel):
    """An estimate with its confidence interval.

    >>> Interval(estimate=0.5, low=0.25, high=0.75).width
    0.5
    """

    model_config = ConfigDict(frozen=True)

    estimate: float = Field(description="The point estimate (the sample's mean).")
    low: float = Field(description="Lower end of the interval.")
    high: float = Field(description="Upper end of the interval.")
    confidence: float = Field(default=0.95, description="Its nominal coverage, e.g. 0.95.")

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    def __repr__(self) -> str:
        return (
            f"Interval(estimate={self.estimate!r}, low={self.low!r}, high={self.high!r}, "
            f"confidence={self.confidence!r})"
        )


class Comparison(BaseModel):
    """Agent A against agent B on the tasks both played: mean of A's minus B's scores."""

    model_config = ConfigDict(frozen=True)

    tasks: int = Field(description="Tasks both agents played (the pairs).")
    a_mean: float = Field(description="A's mean score over those tasks.")
    b_mean: float = Field(description="B's mean score over those tasks.")
    difference: Interval = Field(description="A minus B, with its paired bootstrap interval.")

    @property
    def separated(self) -> bool:
        """Whether the interval excludes 0: A and B differ at the interval's confidence."""
        return self.difference.low > 0 or self.difference.high < 0


def _sample(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("a bootstrap needs at least one value")
    if not np.isfinite(array).all():
        raise ValueError("every value must be a finite number (no NaN or infinity)")
    return array


def bootstrap_ci(
    values: Iterable[float],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """The percentile bootstrap interval of the mean of ``values`` (one value per task).

    Draws ``resamples`` samples of ``len(values)`` with replacement from a generator seeded
    with ``seed``, and takes the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of their means. One value gives a zero-width interval.

    Args:
        values: The sample, e.g. each task's score (its mean over repeats).
        confidence: Nominal coverage, strictly between 0 and 1.
        resamples: How many bootstrap samples, at least 1.
        seed: Seed of the resampling: the same inputs give the same interval.

    Raises:
        ValueError: On an empty sample, a non-finite value, or a bad setting.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    sample = _sample(values)
    n = sample.size
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    rows = max(1, _CHUNK // n)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        means[start : start + count] = sample[rng.integers(0, n, size=(count, n))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    # Shifted by the first value, so that equal values give exactly their value.
    estimate = float(sample[0]) + math.fsum((sample - sample[0]).tolist()) / n
    # Means of equal values can differ from the sample's mean in the last bit: snap them.
    low, high = (
        estimate if math.isclose(v, estimate, rel_tol=1e-12, abs_tol=1e-15) else float(v)
        for v in (low, high)
    )
    return Interval(estimate=estimate, low=low, high=high, confidence=confidence)


def _check_counts(n: int, c: int, k: int) -> None:
    if n < 1:
        raise ValueError(f"n (attempts) must be >= 1, got {n}")
    if not 0 <= c <= n:
        raise ValueError(f"c (successes) must be between 0 and n={n}, got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n={n} (the attempts made), got {k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased pass@k of one task: ``1 - C(n - c, k) / C(n, k)``.

    The chance that at least one of ``k`` of the ``n`` attempts, drawn without replacement,
    is among the ``c`` successes. Exact (integer binomials), so any ``n`` is safe.

    >>> pass_at_k(n=4, c=1, k=1), pass_at_k(n=4, c=3, k=2)
    (0.25, 1.0)
    """
    _check_counts(n, c, k)
    if n - c < k:  # every draw of k attempts holds a success
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """tau-bench's pass^k of one task: ``C(c, k) / C(n, k)``, all ``k`` drawn attempts succeed.

    >>> pass_hat_k(n=4, c=4, k=3), pass_hat_k(n=4, c=2, k=3)
    (1.0, 0.0)
    """
    _check_counts(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _counts(outcomes: Iterable[Sequence[bool]]) -> list[tuple[int, int]]:
    counts = [(len(task), sum(bool(o) for o in task)) for task in outcomes]
    if not counts:
        raise ValueError("pass@k needs at least one task")
    return counts


def mean_pass_at_k(outcomes: Iterable[Sequence[bool]], k: int) -> float:
    """:func:`pass_at_k` averaged over tasks; ``outcomes`` holds each task's attempts.

    >>> mean_pass_at_k([[True, False], [False, False]], k=2)
    0.5
    """
    counts = _counts(outcomes)
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)


def mean_pass_hat_k(outcomes: Iterable[Sequence[bool]], k: int) -> float:
    """:func:`pass_hat_k` averaged over tasks; ``outcomes`` holds each task's attempts.

    >>> mean_pass_hat_k([[True, True], [True, False]], k=2)
    0.5
    """
    counts = _counts(outcomes)
    return sum(pass_hat_k(n, c, k) for n, c in counts) / len(counts)


def paired_comparison(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Comparison:
    """A's scores minus B's on the tasks both played, with a paired bootstrap interval.

    ``a`` and ``b`` map task ids to each agent's score on that task (the mean over its
    repeats). Tasks only one of them played are left out. The interval is
    :func:`bootstrap_ci` of the per-task differences: tasks are resampled as pairs.

    Raises:
        ValueError: When the agents share no task.

    >>> c = paired_comparison({"t1": 1.0, "t2": 1.0}, {"t1": 0.0, "t2": 1.0, "t3": 0.0})
    >>> c.tasks, c.difference.estimate
    (2, 0.5)
    """
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError("the two agents played no task in common")
    first = np.array([a[t] for t in common], dtype=float)
    second = np.array([b[t] for t in common], dtype=float)
    difference = bootstrap_ci(first - second, confidence=confidence, resamples=resamples, seed=seed)
    return Comparison(
        tasks=len(common),
        a_mean=float(first.mean()),
        b_mean=float(second.mean()),
        difference=difference,
    )


def rate(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is 0 (nothing to take a share of).

    >>> rate(3, 4), rate(0, 0)
    (0.75, nan)
    """
    return numerator / denominator if denominator else math.nan
