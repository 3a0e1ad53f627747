"""The small world's distillation goals (issue 27), computed from ``mcm eval`` results on several training seeds.

Distillation exists so that the student at 1, 2 or 4 steps draws what the teacher draws at 50, where the teacher
itself at 1, 2 or 4 steps cannot. Each goal compares a *sampler* (the distilled student, or any other row such
as the untrained student, to show that a goal is not met without the method) with the teacher's own samplers
of the same evaluation (same prompts, same sampling seeds):

==============================  ===============================================================================
acc4_vs_ddim4_<set>             prompt accuracy at 4 steps minus the teacher's guided DDIM at 4 steps, mean over
                                seeds >= 0 (seen and held-out sets apart)
acc4_vs_ddim4_worst_seed        the same difference on the worst seed and set >= -5 points
acc2_vs_ddim4                   2 steps against DDIM at 4 (both sets pooled), mean >= 0
acc1_vs_ddim2                   1 step against DDIM at 2, mean >= 0
acc4_share_of_ddim50_min        4 steps over DDIM at 50 (pooled), on every seed >= 0.9
colour4_gap / colour8_gap       |colour accuracy - DDIM at 50's| at 4 and 8 steps (pooled), mean <= 3 points
acc8_minus_acc4                 8 steps against 4 steps, mean >= -3 points
content4_minus_ddim4            content distance at 4 steps minus DDIM at 4's, mean <= 0 (when measured)
watermark_max                   % of frames with V's watermark, on every seed <= 5
collapsed_max                   % of collapsed videos (near-constant or near-black) at any step, every seed <= 2
==============================  ===============================================================================

"Mean" comes with a 95% Student-t interval over seeds. Results are ``{seed: {set: {key: metrics}}}`` where key
is a MethodSpec key (``"MCM (ours)@4"``, ``"DDIM@50"``) and metrics the ``metrics`` dict of ``mcm eval``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from mcm.eval.comparisons import DDIM, STUDENT

Results = Mapping[int, Mapping[str, Mapping[str, Mapping[str, float]]]]
SETS = ("seen", "zero_shot")
#: Two-sided 95% Student-t quantiles by degrees of freedom (1-10); a normal 1.96 beyond.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
#: Targets (points are percentage points of prompt or colour accuracy).
WORST_SEED_MARGIN = -5.0
SHARE_OF_DDIM50 = 0.9
COLOUR_GAP_MAX = 3.0
EIGHT_VS_FOUR_MIN = -3.0
WATERMARK_MAX = 5.0
COLLAPSED_MAX = 2.0
#: Goals a sampler without distillation must fail (the rest are printed for it).
METHOD_GOALS = ("acc4_vs_ddim4_seen", "acc4_vs_ddim4_zero_shot", "acc4_vs_ddim4_worst_seed", "acc2_vs_ddim4",
                "acc1_vs_ddim2", "watermark_max")


@dataclass(frozen=True)
class Goal:
    """One goal: ``measured`` against ``target`` (``at_least``: measured >= target, else <=), per-seed values and
    the 95% interval of the mean (None with one seed or for a min/max goal)."""

    name: str
    measured: float
    target: float
    at_least: bool
    per_seed: dict[int, float]
    interval: Optional[tuple[float, float]] = None

    @property
    def passed(self) -> bool:
        if math.isnan(self.measured):
            return False
        return self.measured >= self.target if self.at_least else self.measured <= self.target


def mean_interval(values: list[float]) -> tuple[float, Optional[tuple[float, float]]]:
    """Mean and its 95% Student-t interval (None for fewer than two values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = T95.get(n - 1, 1.96) * sd / math.sqrt(n)
    return mean, (mean - half, mean + half)


def _metric(results: Results, seed: int, sets: tuple[str, ...], key: str, metric: str) -> float:
    """The metric of ``key`` averaged over ``sets`` (equal-size prompt sets: the pooled rate); NaN when absent."""
    values = [results[seed][s].get(key, {}).get(metric) for s in sets]
    if any(v is None for v in values):
        return float("nan")
    return sum(values) / len(values)


def _goal(name: str, results: Results, value: Callable[[int], float], target: float, at_least: bool,
          reduce: str = "mean") -> Goal:
    per_seed = {seed: value(seed) for seed in sorted(results)}
    vals = list(per_seed.values())
    if reduce == "mean":
        measured, interval = mean_interval(vals)
    else:
        measured, interval = (min(vals) if reduce == "min" else max(vals)), None
    return Goal(name, measured, target, at_least, per_seed, interval)


def toy_goals(results: Results, sampler: str = STUDENT) -> list[Goal]:
    """Every goal of the module docstring for ``sampler`` (a method label of the evaluation)."""
    both = SETS

    def diff(steps: int, base: str, sets: tuple[str, ...], metric: str = "prompt_acc") -> Callable[[int], float]:
        return lambda s: (_metric(results, s, sets, f"{sampler}@{steps}", metric)
                          - _metric(results, s, sets, base, metric))

    def worst(s: int) -> float:
        return min(diff(4, f"{DDIM}@4", (name,))(s) for name in both)

    def share(s: int) -> float:
        return (_metric(results, s, both, f"{sampler}@4", "prompt_acc")
                / max(_metric(results, s, both, f"{DDIM}@50", "prompt_acc"), 1e-9))

    def colour_gap(steps: int) -> Callable[[int], float]:
        return lambda s: abs(diff(steps, f"{DDIM}@50", both, "prompt_acc_colour")(s))

    def watermark(s: int) -> float:
        return max(_metric(results, s, both, f"{sampler}@{n}", "watermark_rate") for n in (1, 2, 4, 8))

    goals = [_goal(f"acc4_vs_ddim4_{name}", results, diff(4, f"{DDIM}@4", (name,)), 0.0, True) for name in both]
    goals += [
        _goal("acc4_vs_ddim4_worst_seed", results, worst, WORST_SEED_MARGIN, True, reduce="min"),
        _goal("acc2_vs_ddim4", results, diff(2, f"{DDIM}@4", both), 0.0, True),
        _goal("acc1_vs_ddim2", results, diff(1, f"{DDIM}@2", both), 0.0, True),
        _goal("acc4_share_of_ddim50_min", results, share, SHARE_OF_DDIM50, True, reduce="min"),
        _goal("colour4_gap", results, colour_gap(4), COLOUR_GAP_MAX, False),
        _goal("colour8_gap", results, colour_gap(8), COLOUR_GAP_MAX, False),
        _goal("acc8_minus_acc4", results,
              lambda s: (_metric(results, s, both, f"{sampler}@8", "prompt_acc")
                         - _metric(results, s, both, f"{sampler}@4", "prompt_acc")), EIGHT_VS_FOUR_MIN, True),
    ]
    content = _goal("content4_minus_ddim4", results, diff(4, f"{DDIM}@4", both, "content_fd"), 0.0, False)
    if not math.isnan(content.measured):
        goals.append(content)
    goals.append(_goal("watermark_max", results, watermark, WATERMARK_MAX, False, reduce="max"))
    goals.append(_goal("collapsed_max", results,
                       lambda s: max(_metric(results, s, both, f"{sampler}@{n}", "collapsed_rate") for n in (1, 2, 4, 8)),
                       COLLAPSED_MAX, False, reduce="max"))
    return goals
