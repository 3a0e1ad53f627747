"""The student's baselines: same steps, equal network evaluations (CFG costs two per step), unguided, untrained."""

from mcm.eval.comparisons import comparisons_for, student_comparisons
from mcm.eval.report import comparisons_html


def _row(method, steps, acc):
    return {"method": method, "steps": steps, "key": f"{method}@{steps}", "metrics": {"prompt_acc": acc}}


def test_each_student_step_gets_its_baselines_at_the_right_cost():
    assert [(c.baseline, c.key, c.evaluations) for c in comparisons_for(4)] == [
        ("same steps", "DDIM@4", 8), ("same steps (DPM++)", "DPM++@4", 8), ("equal cost", "DDIM@2", 4),
        ("unguided", "DDIM (g=1)@4", 4), ("untrained student", "untrained student@4", 4)]
    assert "equal cost" not in [c.baseline for c in comparisons_for(1)]  # half a guided step does not exist
    results = [_row("MCM (ours)", 1, 20.0), _row("MCM (ours)", 4, 80.0), _row("DDIM", 1, 10.0),
               _row("DDIM", 2, 60.0), _row("DDIM", 4, 90.0), _row("untrained student", 4, 70.0)]
    groups = student_comparisons(results)
    assert [g["steps"] for g in groups] == [1, 4]
    four = {b["baseline"]: b["metrics"]["prompt_acc"] for b in groups[1]["baselines"]}
    assert four == {"same steps": 90.0, "equal cost": 60.0, "untrained student": 70.0}
    page = comparisons_html(results)
    assert "+20" in page and "-10" in page and "DDIM@2" in page  # ahead of equal cost, behind same steps
