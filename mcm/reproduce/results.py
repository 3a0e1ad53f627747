"""results.json of a reproduction: every row (its table, config, seeds, per-seed metrics, mean and interval)
and every claim (paired differences per seed, interval, verdict), from the committed result files.

Only result files whose key equals the current plan's key count (a stale file is listed, not used), so
the document always describes the code, configs and assets of this checkout.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

from mcm.reproduce.config import TEACHER_REF, ReproduceConfig
from mcm.reproduce.runner import TEACHER_ROW, Planner, Run, read_result
from mcm.reproduce.stats import NOT_RUN, Interval, mean_interval, paired_interval, verdict

RESULTS_FORMAT = 1


def _finite(x: Any) -> Optional[float]:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(float(x)) else None


def _interval_dict(values: list[float], confidence: float) -> dict[str, Any]:
    iv = mean_interval(values, confidence)
    return {"mean": iv.mean, "low": _finite(iv.low), "high": _finite(iv.high), "n": iv.n}


def load_results(runs: list[Run]) -> tuple[dict[str, dict], dict[str, str]]:
    """{run name: result doc} of the runs whose result file has the current key; {name: why} for the rest."""
    found, missing = {}, {}
    for run in runs:
        doc = read_result(run.result_path)
        if doc is None:
            missing[run.name] = "not run yet"
        elif doc.get("key") != run.key:
            missing[run.name] = f"stale (key {doc.get('key')} != {run.key})"
        else:
            found[run.name] = doc
    return found, missing


def row_summary(cfg: ReproduceConfig, row: str, seeds: list[int], found: dict[str, dict]) -> dict[str, Any]:
    """Per-seed metrics of a row and, per prompt set / steps / metric, the mean and its interval."""
    per_seed = {s: found[f"{row}/seed{s}"] for s in seeds if f"{row}/seed{s}" in found}
    summary: dict[str, Any] = {}
    for prompt_set in cfg.rows[row].prompt_sets:
        by_steps: dict[str, Any] = {}
        for steps in cfg.eval_steps:
            values: dict[str, list[float]] = {}
            for doc in per_seed.values():
                for metric, v in doc["metrics"].get(prompt_set, {}).get(str(steps), {}).items():
                    if _finite(v) is not None:
                        values.setdefault(metric, []).append(float(v))
            if values:
                by_steps[str(steps)] = {m: _interval_dict(v, cfg.confidence) for m, v in values.items()}
        summary[prompt_set] = by_steps
    return {
        "label": cfg.rows[row].label, "tables": cfg.rows[row].tables, "config": {"stages": cfg.rows[row].stage_sets(),
                                                                               "common": cfg.common},
        "seeds_planned": seeds, "seeds_done": sorted(per_seed),
        "per_seed": {str(s): {"metrics": d["metrics"], "timing": d.get("timing"), "key": d["key"]}
                     for s, d in per_seed.items()},
        "summary": summary,
    }


def _metric_mean(metrics: dict[str, Any], keys: list[str], metric: str) -> Optional[float]:
    vals = [_finite(metrics.get(k, {}).get(metric)) for k in keys]
    return None if not vals or any(v is None for v in vals) else sum(vals) / len(vals)


def claim_result(cfg: ReproduceConfig, claim, seeds_of: dict[str, list[int]], found: dict[str, dict],
                 teacher: Optional[dict]) -> dict[str, Any]:
    """Per-seed differences a - b (metric averaged over the claim's steps), interval and verdict."""
    steps = [s for s in claim.steps if s in cfg.eval_steps]
    out: dict[str, Any] = {**claim.model_dump(), "steps_used": steps, "per_seed": {}, "interval": None}
    if not steps:
        out["verdict"] = NOT_RUN
        return out
    a_values, b_values = {}, {}
    for seed in seeds_of.get(claim.a, []):
        doc = found.get(f"{claim.a}/seed{seed}")
        if doc is not None:
            a_values[seed] = _metric_mean(doc["metrics"].get(claim.prompt_set, {}), [str(s) for s in steps], claim.metric)
    match = TEACHER_REF.match(claim.b)
    if match:
        fixed = match["steps"]
        keys = [f"{match['sampler']}@{fixed or s}" for s in steps]
        value = None
        if teacher is not None:
            value = _metric_mean(teacher["metrics"].get(claim.prompt_set, {}), keys, claim.metric)
        b_values = {seed: value for seed in a_values}
    else:
        for seed in seeds_of.get(claim.b, []):
            doc = found.get(f"{claim.b}/seed{seed}")
            if doc is not None:
                b_values[seed] = _metric_mean(doc["metrics"].get(claim.prompt_set, {}), [str(s) for s in steps],
                                              claim.metric)
    paired = sorted(s for s in a_values if a_values[s] is not None and b_values.get(s) is not None)
    out["per_seed"] = {str(s): {"a": a_values[s], "b": b_values[s], "diff": a_values[s] - b_values[s]} for s in paired}
    if not paired:
        out["verdict"] = NOT_RUN
        return out
    iv: Interval = paired_interval([a_values[s] for s in paired], [b_values[s] for s in paired], cfg.confidence)
    out["interval"] = {"mean": iv.mean, "low": _finite(iv.low), "high": _finite(iv.high), "n": iv.n}
    out["verdict"] = verdict(iv, claim.better, claim.margin)
    return out


def build_results(cfg: ReproduceConfig, quick: bool, planner: Optional[Planner] = None) -> dict[str, Any]:
    """The results document of the current plan (see the module docstring)."""
    planner = planner or Planner(cfg, quick=quick)
    mode = planner.cfg
    runs = planner.plan()
    found, missing = load_results(runs)
    seeds_of = {row: cfg.seeds_of(row, quick) for row in cfg.rows}
    teacher = found.get(TEACHER_ROW)
    rows = {row: row_summary(mode, row, seeds_of[row], found) for row in cfg.rows}
    claims = [claim_result(mode, c, seeds_of, found, teacher) for c in cfg.claims]
    timings = [d.get("timing", {}) for d in found.values()]
    return {
        "format": RESULTS_FORMAT,
        "quick": quick,
        "code_version": planner.code,
        "confidence": cfg.confidence,
        "eval_steps": mode.eval_steps,
        "prompt_sets": {k: str(v.committed or v.path) for k, v in cfg.prompt_sets.items()},
        "tables": cfg.tables,
        "deviations": [d.model_dump() for d in cfg.deviations],
        "teacher": None if teacher is None else {"metrics": teacher["metrics"], "grids": teacher.get("grids", {}),
                                                 "methods": teacher.get("config", {}).get("methods")},
        "rows": rows,
        "claims": claims,
        "grids": {name.split("/")[0]: doc.get("grids", {}) for name, doc in found.items()
                  if doc.get("seed") == 0 and doc.get("grids")},
        "runs": {"planned": len(runs), "done": len(found), "missing": missing,
                 "train_s": round(sum(t.get("train_s", 0) for t in timings), 1),
                 "eval_s": round(sum(t.get("eval_s", 0) for t in timings), 1),
                 "run_wall_s": round(sum(t.get("wall_s", 0) for t in timings), 1)},
    }


def results_path(cfg: ReproduceConfig, quick: bool) -> Path:
    return cfg.for_mode(quick).results_dir / "results.json"
