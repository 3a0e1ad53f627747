"""Row summaries and claim verdicts from per-seed results: Student-t intervals of (paired) differences.

For a claim "a is better than b" on a metric averaged over some step counts, each training seed s gives
d_s = m_a(s) - m_b(s) (same seed, same evaluation prompts and seeds; a teacher sampler has no training seed
and is the same constant for every s). With n seeds, mean d and standard deviation s_d, the interval is

    d ± t_{n-1, (1 + c) / 2} · s_d / sqrt(n)        (c = 0.95)

The verdict, for a claim that a is better in direction ``better`` (higher or lower) by any amount
(margin 0) or is no worse than b by more than ``margin`` (non-inferiority):

* reproduces:   the interval lies entirely on the claimed side of the threshold (0, or -margin / +margin);
* contradicted: it lies entirely on the other side;
* inconclusive: it contains the threshold, or fewer than 2 seeds pair up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

REPRODUCES = "reproduces"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_RUN = "not run"


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return asdict(self)


def t_quantile(p: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(p, dof))


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and the two-sided Student-t interval of the mean (low = high = mean for one value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_interval: no values")
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile((1 + confidence) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Interval:
    """Interval of the mean of a_i - b_i (pairs with the same index: same seed)."""
    if len(a) != len(b):
        raise ValueError(f"paired_interval: {len(a)} values against {len(b)}")
    return mean_interval([x - y for x, y in zip(a, b)], confidence)


def verdict(interval: Optional[Interval], better: str, margin: float = 0.0) -> str:
    """reproduces / contradicted / inconclusive for a - b claimed ``better`` ('higher' or 'lower')."""
    if better not in ("higher", "lower"):
        raise ValueError(f"better={better!r}: expected 'higher' or 'lower'")
    if interval is None:
        return NOT_RUN
    if interval.n < 2 or math.isnan(interval.low):
        return INCONCLUSIVE
    if better == "higher":
        threshold = -margin
        if interval.low > threshold:
            return REPRODUCES
        if interval.high < threshold:
            return CONTRADICTED
    else:
        threshold = margin
        if interval.high < threshold:
            return REPRODUCES
        if interval.low > threshold:
            return CONTRADICTED
    return INCONCLUSIVE
