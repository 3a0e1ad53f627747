"""The baselines a reader asks for first, paired with each student row of an evaluation.

For the student at n steps (``MethodSpec.method`` = the student's label), one row per baseline:

==================  =============================================================================================
same steps          the teacher's DDIM (and DPM++) with CFG at n steps: what the teacher itself does at n steps
equal cost          DDIM with CFG at n / 2 steps: classifier-free guidance costs two network evaluations per
                    step (cond + uncond), the guidance-distilled student one, so n / 2 guided steps cost what
                    the student's n cost (n >= 2; none for one step)
unguided            DDIM with g = 1 (one evaluation per step) at n steps: the same cost without guidance
untrained student   the student's network with its LoRA off, the same LCM sampler and steps: what
                    distillation starts from
==================  =============================================================================================

The rows are found by method label and step count among the evaluation's results, so the comparison needs no
second evaluation; a baseline the evaluation did not run is simply absent. ``bench/toy.py`` and the report read
the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

#: Network evaluations per step of a sampler with classifier-free guidance (conditional + unconditional).
CFG_EVALUATIONS_PER_STEP = 2
#: Method labels of the baselines in the evaluation presets (mcm/eval/presets/toy.yaml).
STUDENT = "MCM (ours)"
UNTRAINED = "untrained student"
DDIM, DPM = "DDIM", "DPM++"
DDIM_UNGUIDED = "DDIM (g=1)"


@dataclass(frozen=True)
class Comparison:
    """One baseline of the student at ``student_steps``: its label, the result key it reads, its cost."""

    student_steps: int
    baseline: str  # "same steps", "equal cost", "unguided", "untrained student"
    key: str  # the result's MethodSpec key, e.g. "DDIM@2"
    evaluations: int  # network evaluations per video of the baseline


def comparisons_for(student_steps: int) -> list[Comparison]:
    """The baselines of the student at ``student_steps`` (see the module docstring)."""
    n = student_steps
    rows = [Comparison(n, "same steps", f"{DDIM}@{n}", CFG_EVALUATIONS_PER_STEP * n),
            Comparison(n, "same steps (DPM++)", f"{DPM}@{n}", CFG_EVALUATIONS_PER_STEP * n)]
    if n % CFG_EVALUATIONS_PER_STEP == 0:
        half = n // CFG_EVALUATIONS_PER_STEP
        rows.append(Comparison(n, "equal cost", f"{DDIM}@{half}", n))
    rows += [Comparison(n, "unguided", f"{DDIM_UNGUIDED}@{n}", n),
             Comparison(n, "untrained student", f"{UNTRAINED}@{n}", n)]
    return rows


def student_comparisons(results: list[dict[str, Any]], student: str = STUDENT) -> list[dict[str, Any]]:
    """For every student row of ``results``: its metrics and each present baseline's, as plain dicts.

    Returns ``[{"steps": n, "student": metrics, "baselines": [{"baseline", "key", "evaluations", "metrics"}]}]``
    sorted by n."""
    by_key = {r["key"]: r for r in results}
    out = []
    for r in sorted((r for r in results if r["method"] == student), key=lambda r: r["steps"]):
        rows = []
        for c in comparisons_for(r["steps"]):
            hit: Optional[dict[str, Any]] = by_key.get(c.key)
            if hit is not None:
                rows.append({"baseline": c.baseline, "key": c.key, "evaluations": c.evaluations,
                             "metrics": hit["metrics"]})
        out.append({"steps": r["steps"], "student": r["metrics"], "baselines": rows})
    return out
