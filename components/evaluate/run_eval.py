"""The evaluation step's work: evaluate the student on the seen and the held-out prompts at 1/2/4/8 steps against
the teacher's DDIM and DPM++ (``mcm eval``), write the run overview (``mcm report``), and turn them into what the
Kubeflow UI shows: one self-contained HTML page, a Markdown summary table and scalar metrics."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional

from components.common import copy_tree, headline_rows, inline_html, markdown_table, mcm, write_config

#: Where the world's files sit in params.yaml (world.out); paths under it are moved into the world artifact.
LATEST = "runs/LATEST"
#: Metrics the summary shows when they are there (toy protocol first, then the real one).
SUMMARY_KEYS = ("prompt_acc", "fvd_toy", "watermark_rate", "motion_score", "fvd", "clipsim", "fid")


def relocate(value: Any, world_root: str, world_path: str, model_path: str) -> Any:
    """Every string in ``value`` under ``world_root`` moved under ``world_path``; ``runs/LATEST`` -> the model."""
    if isinstance(value, dict):
        return {k: relocate(v, world_root, world_path, model_path) for k, v in value.items()}
    if isinstance(value, list):
        return [relocate(v, world_root, world_path, model_path) for v in value]
    if isinstance(value, str):
        if value == LATEST:
            return model_path
        root = world_root.rstrip("/") + "/"
        if value.startswith(root):
            return world_path.rstrip("/") + "/" + value[len(root):]
    return value


def evaluate_run(model_path: str, world_path: str, world_root: str, evals: dict[str, dict[str, Any]],
                 report: dict[str, Any], work: str,
                 log_metric: Optional[Callable[[str, float], None]] = None) -> dict[str, Any]:
    """Evaluate into ``work/run`` (a copy of the model's run folder, so the overview's links resolve), then write
    ``index.html`` there. ``evals``: folder name -> eval config section. Returns the page, the inlined page's
    text, the Markdown summary and the evaluation folders."""
    run = copy_tree(model_path, Path(work) / "run")
    folders = {}
    for name, section in evals.items():
        section = relocate(copy.deepcopy(section), world_root, world_path, str(run))
        cache = section.get("baseline_cache") or {}
        if cache.get("write_dir") and not Path(cache["write_dir"]).is_absolute() and not os.access(".", os.W_OK):
            # a step image's working folder is read-only: new teacher baselines go beside the results instead
            section["baseline_cache"] = dict(cache, write_dir=str(Path(work) / "baseline_cache"))
        out = run / "eval" / name
        mcm(["eval", "--config", write_config(section, f"eval-{name}"), "--out", out])
        folders[name] = out
    overview = dict(copy.deepcopy(report), run=str(run), out=str(run / "index.html"))
    overview["evals"] = {title: str(run / rel) for title, rel in (report.get("evals") or {}).items()
                         if (run / rel / "metrics.json").is_file()} or {n: str(f) for n, f in folders.items()}
    mcm(["report", "--config", write_config(overview, "report")])
    summary = ["# MCM student: evaluation summary\n"]
    for name, folder in folders.items():
        doc = json.loads((folder / "metrics.json").read_text())
        keys = [k for k in SUMMARY_KEYS if k in doc["results"][0]["metrics"]]
        rows = headline_rows(folder / "metrics.json", keys)
        summary += [f"## {name} ({doc['prompt_set']['num_prompts']} prompts)\n", markdown_table(rows)]
        for row in rows:
            for key in keys:
                if log_metric is not None and isinstance(row[key], (int, float)):
                    log_metric(f"{name}/{row['method']}@{row['steps']}/{key}", float(row[key]))
    speed = run / "speed.json"
    if speed.is_file():
        summary.append("\nSpeed-up on this machine: " + json.dumps(json.loads(speed.read_text())) + "\n")
    page = run / "index.html"
    return {"page": page, "html": inline_html(page), "markdown": "\n".join(summary), "folders": folders}
