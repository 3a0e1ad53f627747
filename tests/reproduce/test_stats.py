"""The intervals and verdicts of mcm.reproduce.stats on numbers worked out by hand."""

import math

import pytest

from mcm.reproduce.stats import (CONTRADICTED, INCONCLUSIVE, NOT_RUN, REPRODUCES, Interval, mean_interval,
                                 paired_interval, t_quantile, verdict)


def test_t_quantiles_match_the_table():
    # Student-t 97.5% quantiles: dof 2 -> 4.303, dof 4 -> 2.776 (standard tables).
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-5)
    assert t_quantile(0.975, 4) == pytest.approx(2.776445, abs=1e-5)


def test_paired_interval_on_known_numbers():
    # a - b = [1, 2, 3]: mean 2, sd 1, half-width 4.302653 / sqrt(3) = 2.484138.
    iv = paired_interval([11.0, 22.0, 33.0], [10.0, 20.0, 30.0])
    assert iv.n == 3 and iv.mean == pytest.approx(2.0)
    assert iv.low == pytest.approx(2.0 - 2.484138, abs=1e-5)
    assert iv.high == pytest.approx(2.0 + 2.484138, abs=1e-5)
    # Five seeds, a - b = [2, 4, 4, 4, 6]: mean 4, sd sqrt(2), half-width 2.776445 * sqrt(2 / 5) = 1.755978.
    iv5 = paired_interval([2, 4, 4, 4, 6], [0, 0, 0, 0, 0])
    assert (iv5.low, iv5.high) == pytest.approx((4 - 1.755978, 4 + 1.755978), abs=1e-5)
    # Pairing removes the seed effect: unpaired these would overlap, paired the interval excludes zero.
    a, b = [10.0, 20.0, 30.0], [9.0, 19.2, 28.9]
    assert paired_interval(a, b).low > 0
    assert mean_interval(a).low < mean_interval(b).high


def test_one_value_has_no_interval_and_mismatched_pairs_fail():
    iv = mean_interval([3.0])
    assert iv.mean == 3.0 and math.isnan(iv.low) and verdict(iv, "higher") == INCONCLUSIVE
    with pytest.raises(ValueError, match="3 values against 2"):
        paired_interval([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no values"):
        mean_interval([])


@pytest.mark.parametrize("low,high,better,margin,expected", [
    (0.5, 2.0, "higher", 0.0, REPRODUCES),
    (-2.0, -0.5, "higher", 0.0, CONTRADICTED),
    (-0.5, 2.0, "higher", 0.0, INCONCLUSIVE),
    (-2.0, -0.5, "lower", 0.0, REPRODUCES),
    (0.5, 2.0, "lower", 0.0, CONTRADICTED),
    (-8.0, 3.0, "higher", 10.0, REPRODUCES),      # non-inferior: the whole interval above -10
    (-15.0, -11.0, "higher", 10.0, CONTRADICTED),  # worse by more than the margin
    (-12.0, 3.0, "higher", 10.0, INCONCLUSIVE),
])
def test_verdicts(low, high, better, margin, expected):
    assert verdict(Interval((low + high) / 2, low, high, 3), better, margin) == expected


def test_verdict_without_data_and_bad_direction():
    assert verdict(None, "lower") == NOT_RUN
    with pytest.raises(ValueError, match="better="):
        verdict(Interval(0, -1, 1, 3), "bigger")
