"""The run overview of ``make pipeline-run``: what a person wants first, then the tables and curves.

``mcm report`` writes ``<run>/index.html`` from files the earlier stages wrote (it trains nothing and evaluates
nothing; it only times the two denoising loops when ``speed.enabled``):

1. the teacher's and the student's videos side by side, for the same prompts and seeds, one table per prompt
   set (seen, zero-shot), from the grid GIFs of ``mcm eval``;
2. the speed-up measured on this machine: the teacher's guided denoising loop against the student's
   (:func:`mcm.sampler.timing.denoising_loop_seconds`);
3. the headline numbers (teacher reference against the student, per prompt set) with each metric's meaning in
   one line;
4. the full metric tables of every evaluation (the layout of the paper's Table 1) and links to their reports;
5. the training curves (the PNGs the trainer's report wrote into ``<run>/report/``) and the configuration.

The evaluation never imports the trainer: curves are read as files.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from mcm.eval.report import MEANINGS, METRICS, metrics_table_html

OVERVIEW = "index.html"
TRAINING_PLOTS = "report"  # folder of the trainer's curve PNGs inside the run folder
TRAINING_REPORT = "report.html"
GIF_WIDTH_PX = 128


class SpeedConfig(BaseModel):
    """Timing of the teacher's guided loop against the student's (one prompt, batch 1)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Time the two denoising loops on this machine.")
    teacher: str = Field("toy", description="Preset or YAML of the teacher baseline.")
    scheduler: str = Field("ddim", description="Teacher sampler (ddim or dpm++).")
    teacher_steps: int = Field(50, ge=1, description="Teacher steps (the paper's 50-step guided baseline).")
    guidance: Optional[float] = Field(None, description="Teacher CFG scale g (None: the preset's default).")
    student_steps: int = Field(4, ge=1, le=8, description="Student steps.")
    rounds: int = Field(3, ge=1, description="Timed rounds (minimum kept), after one warm-up call each.")
    prompt: str = Field("a red circle moving left", description="Prompt of the timed calls.")
    seed: int = Field(0, description="Seed of the timed calls.")


class OverviewConfig(BaseModel):
    """What ``mcm report`` reads and how it lays the overview out."""

    model_config = ConfigDict(extra="forbid")
    run: Path = Field(Path("runs/LATEST"), description="Run folder (or runs/LATEST).")
    evals: dict[str, Path] = Field(
        default_factory=lambda: {"seen prompts": Path("eval/seen"), "zero-shot prompts (held out)": Path("eval/zero_shot")},
        description="Title -> folder of an `mcm eval` output (metrics.json), relative to the run folder.",
    )
    out: Optional[Path] = Field(None, description="Output HTML (default: <run>/index.html).")
    teacher_key: str = Field("DDIM@50", description="The teacher reference of the headline (method@steps).")
    student_key: str = Field("MCM (ours)@4", description="The student of the headline (method@steps).")
    columns: list[str] = Field(
        default_factory=lambda: ["DDIM@50", "DDIM@4", "MCM (ours)@1", "MCM (ours)@2", "MCM (ours)@4", "MCM (ours)@8"],
        description="method@steps columns of the side-by-side videos (those present in the evaluation).",
    )
    headline_metrics: list[str] = Field(
        default_factory=lambda: ["prompt_acc", "prompt_acc_shape", "prompt_acc_colour", "prompt_acc_direction",
                                 "motion_score", "watermark_rate", "sharpness", "fvd_toy", "fid_toy", "collapsed_rate"],
        description="Metrics of the headline table (in this order, those present).",
    )
    curves: list[str] = Field(
        default_factory=lambda: ["loss_cd", "loss_adv_g", "d_loss", "d_real_score", "d_fake_score", "grad_norm", "lr"],
        description="Training curves shown (PNG names in <run>/report/ without .png).",
    )
    speed: SpeedConfig = Field(default_factory=SpeedConfig, description="Speed-up measurement.")


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _by_key(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in doc["results"]}


def side_by_side_html(title: str, doc: dict[str, Any], eval_dir: Path, page_dir: Path, columns: list[str]) -> str:
    """Rows: the grid prompts with their seeds; columns: the method@steps present; cells: the GIFs."""
    results = _by_key(doc)
    cols = [c for c in columns if c in results and results[c].get("grid_files")]
    grid = doc["grid"]
    if not cols or not grid["indices"]:
        return f"<h3>{html.escape(title)}</h3><p>No videos (grid_prompts = 0 or no matching methods).</p>"
    head = "<th>prompt (seed)</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    rows = []
    for row, (prompt, seed) in enumerate(zip(grid["prompts"], grid["seeds"])):
        cells = "".join(
            f"<td><img src='{html.escape(_rel(eval_dir / results[c]['grid_files'][row], page_dir))}' "
            f"width={GIF_WIDTH_PX}></td>" for c in cols
        )
        rows.append(f"<tr><td>{html.escape(prompt)} ({seed})</td>{cells}</tr>")
    return f"<h3>{html.escape(title)}</h3><table><tr>{head}</tr>{''.join(rows)}</table>"


def _fmt(key: str, value: Optional[float]) -> str:
    if value is None:
        return "–"
    fmt = next((m[3] for m in METRICS if m[0] == key), "{:.3g}")
    return fmt.format(value)


def headline_html(cfg: OverviewConfig, docs: dict[str, dict[str, Any]]) -> str:
    """Per prompt set: the teacher reference and the student side by side on the headline metrics, with the
    student's share of the teacher's prompt accuracy; then each metric's meaning in one line."""
    titles = {m[0]: (m[1], m[2]) for m in METRICS}
    present = [k for k in cfg.headline_metrics
               if any(k in r["metrics"] for d in docs.values() for r in d["results"])]
    head = "<th>prompt set</th><th>sampler</th>" + "".join(
        f"<th>{html.escape(titles[k][0])}</th>" for k in present) + "<th>share of teacher's prompt acc</th>"
    rows = []
    for title, doc in docs.items():
        results = _by_key(doc)
        teacher, student = results.get(cfg.teacher_key), results.get(cfg.student_key)
        for label, r in ((f"teacher {cfg.teacher_key}", teacher), (f"student {cfg.student_key}", student)):
            if r is None:
                continue
            share = ""
            if r is student and teacher is not None:
                t, s = teacher["metrics"].get("prompt_acc"), r["metrics"].get("prompt_acc")
                share = f"{s / t:.2f}" if t and s is not None else "–"
            cells = "".join(f"<td>{_fmt(k, r['metrics'].get(k))}</td>" for k in present)
            rows.append(f"<tr><td>{html.escape(title)}</td><td>{html.escape(label)}</td>{cells}<td>{share}</td></tr>")
    meanings = "".join(f"<li><b>{html.escape(titles[k][0])}</b>: {html.escape(MEANINGS.get(k, ''))}</li>"
                       for k in present)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table><ul>{meanings}</ul>"


def measure_speed(cfg: SpeedConfig, run: Path) -> dict[str, Any]:
    """Seconds of the teacher's guided loop and the (LoRA-merged) student's loop; their ratio."""
    from mcm.sampler.api import build_video_generator
    from mcm.sampler.timing import denoising_loop_seconds
    from mcm.student.lora import merge_lora

    teacher = build_video_generator(teacher=cfg.teacher, scheduler=cfg.scheduler, steps=cfg.teacher_steps,
                                    guidance=cfg.guidance)
    student = build_video_generator(checkpoint=str(run), steps=cfg.student_steps)
    merge_lora(student.teacher.network)
    seconds = denoising_loop_seconds({"teacher": teacher, "student": student}, cfg.prompt, cfg.seed, cfg.rounds)
    return {
        "teacher": f"{cfg.scheduler.upper()} {cfg.teacher_steps} steps, CFG g = {teacher.guidance:g} "
                   f"({2 * cfg.teacher_steps} UNet evaluations)",
        "student": f"{cfg.student_steps} steps ({cfg.student_steps} UNet evaluations)",
        "teacher_s": seconds["teacher"],
        "student_s": seconds["student"],
        "speedup": seconds["teacher"] / seconds["student"],
        "threads": os.environ.get("OMP_NUM_THREADS", "default"),
    }


def speed_html(speed: Optional[dict[str, Any]]) -> str:
    if speed is None:
        return "<p>Not measured (speed.enabled = false).</p>"
    return (f"<p><b>{speed['speedup']:.1f}x faster</b> denoising loop on this machine (text encoding included, "
            f"VAE decode excluded; batch 1, minimum of timed rounds after a warm-up, OMP_NUM_THREADS="
            f"{html.escape(str(speed['threads']))}): teacher {html.escape(speed['teacher'])} "
            f"{speed['teacher_s']:.3f} s, student {html.escape(speed['student'])} {speed['student_s']:.3f} s.</p>")


def curves_html(cfg: OverviewConfig, run: Path, page_dir: Path) -> str:
    plots = run / TRAINING_PLOTS
    imgs = [plots / f"{k}.png" for k in cfg.curves if (plots / f"{k}.png").is_file()]
    if not imgs:
        return "<p>No training curves (the run wrote no report).</p>"
    link = run / TRAINING_REPORT
    return ("".join(f"<img src='{html.escape(_rel(p, page_dir))}' alt='{html.escape(p.stem)}'>" for p in imgs)
            + (f"<p>Every curve, validation videos and the configuration: "
               f"<a href='{html.escape(_rel(link, page_dir))}'>training report</a>.</p>" if link.is_file() else ""))


def write_overview(cfg: OverviewConfig, speed: Optional[dict[str, Any]] = None) -> Path:
    """Write the overview page; ``speed`` (from :func:`measure_speed`) is measured here when None and enabled."""
    from mcm.runs.folder import resolve_run

    run = resolve_run(cfg.run)
    if not run.is_dir():
        raise ValueError(f"run folder {str(run)!r} not found (run `mcm distill` first)")
    out = Path(cfg.out) if cfg.out else run / OVERVIEW
    page_dir = out.parent
    docs, dirs = {}, {}
    for title, rel in cfg.evals.items():
        folder = rel if rel.is_absolute() else run / rel
        metrics = folder / "metrics.json"
        if not metrics.is_file():
            raise ValueError(f"evaluation {title!r}: {metrics} not found (run `mcm eval --out {folder}` first)")
        docs[title], dirs[title] = json.loads(metrics.read_text()), folder
    if speed is None and cfg.speed.enabled:
        speed = measure_speed(cfg.speed, run)
    config = run / "config.yaml"
    sections = [
        f"<h1>Motion Consistency Model: run {html.escape(run.name)}</h1>",
        "<p>A student distilled from the teacher samples in a few steps what the teacher samples in 50 guided "
        "steps. Below: the same prompts and seeds through both, the speed-up, then the numbers.</p>",
        "<h2>Teacher and student, same prompts and seeds</h2>",
        *(side_by_side_html(t, docs[t], dirs[t], page_dir, cfg.columns) for t in docs),
        "<h2>Speed-up measured</h2>",
        speed_html(speed),
        "<h2>What the student learnt</h2>",
        headline_html(cfg, docs),
        "<p>The held-out (zero-shot) prompt set is used only for evaluation: no hyperparameter of the teacher, the "
        "student or the guidance was chosen on it.</p>",
        "<h2>Metric tables (layout of the paper's Table 1)</h2>",
    ]
    for title, doc in docs.items():
        report = dirs[title] / "report.html"
        sections.append(f"<h3>{html.escape(title)}: {doc['prompt_set']['num_prompts']} prompts</h3>"
                        + metrics_table_html(doc["results"])
                        + (f"<p><a href='{html.escape(_rel(report, page_dir))}'>full evaluation report</a> "
                           "(plots against steps, 95% intervals, protocol)</p>" if report.is_file() else ""))
    sections += ["<h2>Training curves</h2>", curves_html(cfg, run, page_dir)]
    if config.is_file():
        sections.append(f"<details><summary>Configuration</summary><pre>{html.escape(config.read_text())}</pre>"
                        "</details>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:80em} table{border-collapse:collapse;margin:1em 0} "
             "td,th{border:1px solid #bbb;padding:4px 8px;text-align:center} img{margin:2px} "
             "img[src$='.gif']{image-rendering:pixelated}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>mcm run {html.escape(run.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    if speed is not None:
        (run / "speed.json").write_text(json.dumps(speed, indent=1) + "\n")
    return out
