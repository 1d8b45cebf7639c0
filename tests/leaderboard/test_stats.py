"""Statistics against cases worked out by hand (the working is in the comments)."""

import math

import pytest

from iapo_bench.leaderboard.stats import (
    bootstrap_ci,
    mean_pass_at_k,
    mean_pass_hat_k,
    paired_comparison,
    pass_at_k,
    pass_hat_k,
)


def test_pass_at_k_by_hand():
    # n=5 attempts, c=2 successes, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # k=1 is the success rate: 1 - C(3,1)/C(5,1) = 1 - 3/5 = 0.4 = c/n
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    # n=10, c=3, k=5: 1 - C(7,5)/C(10,5) = 1 - 21/252 = 11/12
    assert pass_at_k(10, 3, 5) == pytest.approx(11 / 12)
    # n - c < k: every draw of k holds a success (n=4, c=3, k=2: only one failure)
    assert pass_at_k(4, 3, 2) == 1.0
    # no success, no pass
    assert pass_at_k(6, 0, 3) == 0.0


def test_pass_hat_k_by_hand():
    # tau-bench: C(c,k)/C(n,k). n=5, c=2, k=2: C(2,2)/C(5,2) = 1/10
    assert pass_hat_k(5, 2, 2) == pytest.approx(0.1)
    # n=4, c=3, k=2: C(3,2)/C(4,2) = 3/6 = 0.5
    assert pass_hat_k(4, 3, 2) == pytest.approx(0.5)
    # k=1 is the success rate too: 3/4
    assert pass_hat_k(4, 3, 1) == pytest.approx(0.75)
    # all attempts solved: 1 whatever k; fewer successes than k: 0
    assert pass_hat_k(3, 3, 3) == 1.0
    assert pass_hat_k(3, 2, 3) == 0.0


def test_pass_at_k_is_exact_for_large_n():
    # n=1000, c=1, k=1000: the single success is always drawn
    assert pass_at_k(1000, 1, 1000) == 1.0
    # n=1000, c=1, k=1: 1/1000
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)


def test_means_over_tasks_by_hand():
    # task A: 2 of 4 solved; task B: 4 of 4; task C: 0 of 4
    outcomes = [[True, False, True, False], [True] * 4, [False] * 4]
    # pass@2: A = 1 - C(2,2)/C(4,2) = 1 - 1/6 = 5/6; B = 1; C = 0; mean = (5/6 + 1) / 3 = 11/18
    assert mean_pass_at_k(outcomes, 2) == pytest.approx(11 / 18)
    # pass^2: A = C(2,2)/C(4,2) = 1/6; B = 1; C = 0; mean = (1/6 + 1) / 3 = 7/18
    assert mean_pass_hat_k(outcomes, 2) == pytest.approx(7 / 18)
    # at k=1 both are the mean success rate: (0.5 + 1 + 0) / 3 = 0.5
    assert mean_pass_at_k(outcomes, 1) == mean_pass_hat_k(outcomes, 1) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("n", "c", "k", "message"),
    [(0, 0, 1, "n"), (3, 4, 1, "c"), (3, -1, 1, "c"), (3, 1, 0, "k"), (3, 1, 4, "k")],
)
def test_pass_at_k_rejects_impossible_counts(n, c, k, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError, match=f"^{message}"):
        pass_hat_k(n, c, k)


def test_bootstrap_of_equal_values_has_zero_width():
    interval = bootstrap_ci([0.4] * 7)
    assert (interval.low, interval.estimate, interval.high) == (0.4, 0.4, 0.4)


def test_bootstrap_of_one_value_has_zero_width():
    assert bootstrap_ci([0.25]).width == 0.0


def test_bootstrap_of_two_values_spans_both():
    # Resampling [0, 1] twice: the mean is 0 with probability 1/4, 0.5 with 1/2, 1 with 1/4.
    # The 2.5% quantile falls inside the first quarter (0), the 97.5% inside the last (1).
    interval = bootstrap_ci([0.0, 1.0])
    assert (interval.low, interval.estimate, interval.high) == (0.0, 0.5, 1.0)


def test_bootstrap_percentiles_by_hand():
    # Resampling [0, 0, 0, 1]: the mean is K/4 with K ~ Binomial(4, 1/4):
    # P(K=0) = 81/256 = 0.316, P(K<=2) = (81 + 108 + 54)/256 = 0.949, P(K<=3) = 255/256.
    # The 2.5% quantile is 0; the 97.5% lies between 0.949 and 0.996 of the mass: K=3, 0.75.
    # (With 2,000 resamples the share below 0.75 is 0.949 +- 0.005: far from 0.975.)
    interval = bootstrap_ci([0.0, 0.0, 0.0, 1.0])
    assert interval.estimate == 0.25
    assert (interval.low, interval.high) == (0.0, 0.75)
    # A 50% interval: the 25% quantile lies in K=0 (0.316 of the mass), the 75% in K=1
    # (0.316 + 0.422 = 0.738 < 0.75, so K=2: 0.5).
    half = bootstrap_ci([0.0, 0.0, 0.0, 1.0], confidence=0.5)
    assert (half.low, half.high) == (0.0, 0.5)


def test_bootstrap_is_seeded():
    values = [0.1, 0.9, 0.3, 0.7, 0.5, 0.2]
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    first, other = bootstrap_ci(values, seed=0), bootstrap_ci(values, seed=1)
    assert first.estimate == other.estimate and (first.low, first.high) != (other.low, other.high)


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci([1.0, math.nan])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0], confidence=1.0)
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ci([1.0], resamples=0)


def test_paired_comparison_by_hand():
    # A solves t1, t2; B solves t2 only; t3 (only A) and t4 (only B) are not paired.
    a = {"t1": 1.0, "t2": 1.0, "t5": 0.0, "t6": 0.0, "t3": 1.0}
    b = {"t1": 0.0, "t2": 1.0, "t5": 0.0, "t6": 0.0, "t4": 1.0}
    result = paired_comparison(a, b)
    # Pairs t1, t2, t5, t6: differences [1, 0, 0, 0], mean 0.25; A's mean 0.5, B's 0.25.
    assert result.tasks == 4
    assert (result.a_mean, result.b_mean) == (0.5, 0.25)
    # Their bootstrap is the [0, 0, 0, 1] case above: [0, 0.75]; it touches 0.
    d = result.difference
    assert (d.estimate, d.low, d.high) == (0.25, 0.0, 0.75)
    assert not result.separated


def test_paired_comparison_separates_a_consistent_gap():
    # A beats B by exactly 0.5 on every task: every resampled mean difference is 0.5.
    a = {f"t{i}": 1.0 for i in range(6)}
    b = {f"t{i}": 0.5 for i in range(6)}
    result = paired_comparison(a, b)
    assert (result.difference.low, result.difference.high) == (0.5, 0.5)
    assert result.separated
    # B minus A: the mirror image
    assert paired_comparison(b, a).difference.estimate == -0.5


def test_paired_comparison_needs_shared_tasks():
    with pytest.raises(ValueError, match="no task in common"):
        paired_comparison({"a": 1.0}, {"b": 1.0})
