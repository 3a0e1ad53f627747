"""The reproduction's report: ``results.json`` and ``index.html`` in the results folder.

The page opens with the verdict of every claim (one table), then what differs from the paper and why, the
time it took, and per table of the paper the rows' means with their 95% intervals at each step count,
seed 0's videos side by side, and the per-seed numbers behind each claim.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any, Optional

from mcm.reproduce.config import ReproduceConfig
from mcm.reproduce.results import build_results, results_path
from mcm.reproduce.runner import write_json_atomic
from mcm.reproduce.stats import CONTRADICTED, INCONCLUSIVE, NOT_RUN, REPRODUCES

REPORT_FILE = "index.html"
INVOCATIONS_FILE = "invocations.json"
#: Metrics of the row tables: key -> (column title, lower is better).
TABLE_METRICS = {
    "fvd_toy": ("FVD (world) ↓", True),
    "prompt_acc": ("prompt acc. % ↑", False),
    "fid_toy": ("frame FD to M ↓", True),
    "motion_score": ("motion % ↑", False),
    "watermark_rate": ("watermark % ↓", True),
    "style_rate": ("style %", False),
    "collapsed_rate": ("collapsed %", True),
    "sharpness": ("sharpness ↑", False),
}
#: The metrics each paper table shows (frame quality: the frame FD to M and sharpness; motion: motion_score).
METRICS_OF_TABLE = {
    "t12": ["fvd_toy", "prompt_acc", "fid_toy", "sharpness", "motion_score"],
    "t4": ["fvd_toy", "prompt_acc", "motion_score", "collapsed_rate"],
    "t5": ["fvd_toy", "prompt_acc", "motion_score"],
    "t6": ["fvd_toy", "prompt_acc", "collapsed_rate"],
    "t3": ["fid_toy", "watermark_rate", "style_rate", "motion_score", "prompt_acc"],
}
#: Rows and teacher samplers drawn in the curves figure (Tables 1/2).
CURVE_METRICS = ("fvd_toy", "prompt_acc")
VERDICT_COLOURS = {REPRODUCES: "#c8efc8", CONTRADICTED: "#f6c6c6", INCONCLUSIVE: "#eee", NOT_RUN: "#fff"}
STYLE = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.4em}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.note{color:#555;font-size:90%}img{image-rendering:pixelated}
.banner{background:#fff3c4;padding:.6em 1em;border:1px solid #e0c060}"""


def _fmt(x: Optional[float], digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _iv(d: Optional[dict], digits: int = 1) -> str:
    if not d:
        return "–"
    if d.get("low") is None:
        return f"{_fmt(d['mean'], digits)} (n={d['n']})"
    return f"{_fmt(d['mean'], digits)} [{_fmt(d['low'], digits)}, {_fmt(d['high'], digits)}]"


def _claims_table(doc: dict[str, Any]) -> str:
    rows = []
    for c in doc["claims"]:
        colour = VERDICT_COLOURS.get(c["verdict"], "#fff")
        rule = f"{'non-inferior within ' + str(c['margin']) if c['margin'] else ('lower' if c['better'] == 'lower' else 'higher')}"
        rows.append(
            f"<tr><td class=l>{html.escape(c['table'])}</td><td class=l>{html.escape(c['claim'])}</td>"
            f"<td class=l>{html.escape(c['a'])} − {html.escape(c['b'])}</td><td class=l>{c['metric']} @ "
            f"{','.join(map(str, c['steps_used'])) or '–'}</td><td class=l>{c['prompt_set']}</td><td class=l>{rule}</td>"
            f"<td>{_iv(c['interval'], 2)}</td><td>{(c['interval'] or {}).get('n', 0)}</td>"
            f"<td style='background:{colour}'><b>{c['verdict']}</b></td></tr>")
    return ("<table><tr><th class=l>table</th><th class=l>the paper claims</th><th class=l>difference</th>"
            "<th class=l>metric @ steps (mean)</th><th class=l>prompts</th><th class=l>claimed</th>"
            f"<th>mean diff. [{int(doc['confidence'] * 100)}% CI]</th><th>seeds</th><th>verdict</th></tr>"
            + "".join(rows) + "</table>")


def _row_table(doc: dict[str, Any], table: str, prompt_set: str) -> str:
    steps = [str(s) for s in doc["eval_steps"]]
    metrics = METRICS_OF_TABLE.get(table, list(TABLE_METRICS))
    head = "".join(f"<th colspan={len(steps)}>{html.escape(TABLE_METRICS[m][0])}</th>" for m in metrics)
    sub = "".join(f"<th>{s}</th>" for _ in metrics for s in steps)
    body = []
    teacher = (doc.get("teacher") or {}).get("metrics", {}).get(prompt_set)
    if table == "t12" and teacher:
        for sampler in ("DDIM", "DPM++"):
            cells = "".join(f"<td>{_fmt((teacher.get(f'{sampler}@{s}') or {}).get(m), _digits(m))}</td>"
                            for m in metrics for s in steps)
            at50 = teacher.get(f"{sampler}@50") or {}
            body.append(f"<tr><td class=l>teacher {sampler}</td><td>1</td>{cells}</tr>")
            if at50:
                body.append(f"<tr><td class=l>teacher {sampler} @ 50 steps</td><td>1</td>"
                            + "".join(f"<td colspan={len(steps)}>{_fmt(at50.get(m), _digits(m))}</td>" for m in metrics)
                            + "</tr>")
    for name, row in doc["rows"].items():
        if table not in row["tables"] or prompt_set not in row["summary"]:
            continue
        summary = row["summary"][prompt_set]
        cells = "".join(f"<td title='{_iv((summary.get(s) or {}).get(m), _digits(m))}'>"
                        f"{_fmt(((summary.get(s) or {}).get(m) or {}).get('mean'), _digits(m))}"
                        f"<br><span class=note>±{_half((summary.get(s) or {}).get(m), _digits(m))}</span></td>"
                        for m in metrics for s in steps)
        body.append(f"<tr><td class=l>{html.escape(row['label'])}<br><span class=note>{name}</span></td>"
                    f"<td>{len(row['seeds_done'])}/{len(row['seeds_planned'])}</td>{cells}</tr>")
    if not body:
        return ""
    return (f"<p class=note>{prompt_set} prompts: mean over seeds, ± half-width of the {int(doc['confidence'] * 100)}% "
            "interval (hover for the interval); columns: sampling steps.</p>"
            f"<table><tr><th class=l rowspan=2>row</th><th rowspan=2>seeds</th>{head}</tr><tr>{sub}</tr>"
            + "".join(body) + "</table>")


def _half(d: Optional[dict], digits: int = 1) -> str:
    if not d or d.get("low") is None:
        return "–"
    return _fmt((d["high"] - d["low"]) / 2, digits)


def _digits(metric: str) -> int:
    return 3 if metric == "sharpness" else 1


def _gifs(doc: dict[str, Any]) -> str:
    grids = doc.get("grids", {})
    if not grids:
        return ""
    out = ["<h2>Seed 0's videos, same prompts and evaluation seeds</h2><table><tr><th class=l>row</th>"
           "<th class=l>prompts</th><th class=l>steps</th><th class=l>videos</th></tr>"]
    for row, per_set in grids.items():
        for prompt_set, per_key in per_set.items():
            for key, files in per_key.items():
                if not files:
                    continue
                imgs = "".join(f"<img src='{html.escape(f)}' width=96>" for f in files)
                out.append(f"<tr><td class=l>{row}</td><td class=l>{prompt_set}</td><td class=l>{key}</td>"
                           f"<td class=l>{imgs}</td></tr>")
    return "".join(out) + "</table>"


def _claim_details(doc: dict[str, Any]) -> str:
    out = ["<h2>The numbers behind each claim (per training seed)</h2><table><tr><th class=l>claim</th>"
           "<th class=l>prompts</th><th class=l>seed: a, b, a − b</th></tr>"]
    for c in doc["claims"]:
        seeds = "; ".join(f"{s}: {_fmt(v['a'], 2)}, {_fmt(v['b'], 2)}, {_fmt(v['diff'], 2)}"
                          for s, v in c["per_seed"].items()) or "–"
        out.append(f"<tr><td class=l>{html.escape(c['claim'])} ({c['metric']})</td><td class=l>{c['prompt_set']}</td>"
                   f"<td class=l>{seeds}</td></tr>")
    return "".join(out) + "</table>"


def write_curves(doc: dict[str, Any], path: Path, rows: tuple[str, ...] = ("lcm", "mcm")) -> Optional[Path]:
    """Tables 1/2 as curves: each metric of ``CURVE_METRICS`` against sampling steps, per prompt set, for the
    teacher's samplers and the rows' means (error bars: the 95% interval over seeds). None without data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [p for p in ("seen", "zero_shot") if any(p in (doc["rows"].get(r) or {}).get("summary", {}) for r in rows)]
    if not sets:
        return None
    steps = doc["eval_steps"]
    fig, axes = plt.subplots(len(sets), len(CURVE_METRICS), figsize=(4.2 * len(CURVE_METRICS), 3.2 * len(sets)),
                             squeeze=False)
    teacher = (doc.get("teacher") or {}).get("metrics", {})
    for i, prompt_set in enumerate(sets):
        for j, metric in enumerate(CURVE_METRICS):
            ax = axes[i][j]
            for sampler, style in (("DDIM", "--"), ("DPM++", ":")):
                ys = [(teacher.get(prompt_set, {}).get(f"{sampler}@{s}") or {}).get(metric) for s in steps]
                if any(y is not None for y in ys):
                    ax.plot(steps, ys, style, color="grey", marker=".", label=f"teacher {sampler}")
                at50 = (teacher.get(prompt_set, {}).get(f"{sampler}@50") or {}).get(metric)
                if at50 is not None:
                    ax.axhline(at50, color="grey", lw=0.6, ls=style, alpha=0.6)
            for row in rows:
                summary = (doc["rows"].get(row) or {}).get("summary", {}).get(prompt_set, {})
                pts = [(s, summary[str(s)][metric]) for s in steps if metric in summary.get(str(s), {})]
                if not pts:
                    continue
                xs = [s for s, _ in pts]
                ys = [d["mean"] for _, d in pts]
                err = [[d["mean"] - d["low"] if d.get("low") is not None else 0 for _, d in pts],
                       [d["high"] - d["mean"] if d.get("high") is not None else 0 for _, d in pts]]
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=doc["rows"][row]["label"])
            ax.set_xscale("log", base=2)
            ax.set_xticks(steps, [str(s) for s in steps])
            ax.set_xlabel("sampling steps (thin lines: teacher at 50)")
            ax.set_title(f"{TABLE_METRICS[metric][0]}, {prompt_set} prompts", fontsize=9)
            ax.grid(alpha=0.3)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def render_html(doc: dict[str, Any], invocations: list[dict[str, Any]], curves: Optional[str] = None) -> str:
    counts = {v: sum(c["verdict"] == v for c in doc["claims"]) for v in (REPRODUCES, CONTRADICTED, INCONCLUSIVE, NOT_RUN)}
    parts = [f"<!doctype html><meta charset=utf-8><title>MCM: the paper's tables in miniature</title><style>{STYLE}</style>",
             "<h1>MCM: the paper's tables in miniature (small video world)</h1>"]
    if doc["quick"]:
        parts.append("<p class=banner><b>QUICK mode</b>: a smoke run with far fewer updates, one seed and fewer "
                     "prompts. Its numbers say nothing about the paper's claims; every claim needs two seeds.</p>")
    runs = doc["runs"]
    if runs["missing"]:
        parts.append(f"<p class=banner>{runs['done']} of {runs['planned']} runs are done; missing: "
                     f"{html.escape(', '.join(sorted(runs['missing'])))}.</p>")
    parts.append(f"<p>Claims: <b>{counts[REPRODUCES]} reproduce</b>, <b>{counts[CONTRADICTED]} contradicted</b>, "
                 f"{counts[INCONCLUSIVE]} inconclusive, {counts[NOT_RUN]} not run. Each claim is decided from the "
                 f"{int(doc['confidence'] * 100)}% Student-t interval of the paired difference (same training seed, "
                 "same evaluation prompts and seeds): it reproduces when the interval excludes zero in the paper's "
                 "direction, is contradicted when it excludes zero the other way, and is inconclusive otherwise "
                 "(a non-inferiority claim uses −margin instead of zero).</p>")
    parts.append(_claims_table(doc))
    parts.append("<h2>What differs from the paper, and why</h2><table><tr><th class=l>setting</th><th class=l>paper</th>"
                 "<th class=l>here</th><th class=l>why</th></tr>"
                 + "".join(f"<tr><td class=l>{html.escape(d['name'])}</td><td class=l>{html.escape(d['paper'])}</td>"
                           f"<td class=l>{html.escape(d['here'])}</td><td class=l>{html.escape(d['why'])}</td></tr>"
                           for d in doc["deviations"]) + "</table>")
    parts.append("<p class=note>Nothing was tuned on the zero-shot prompts or the evaluation seeds: the base "
                 "configuration is the embedded default's (chosen on the seen prompts), evaluation seeds and prompts "
                 f"are fixed and committed ({html.escape(', '.join(doc['prompt_sets'].values()))}).</p>")
    total = ", ".join(f"{i['started']}: {i['wall_s'] / 60:.1f} min wall, {i['finished']} runs run, {i['cached']} reused,"
                      f" {i['jobs']} at a time" for i in invocations) or "–"
    parts.append(f"<h2>Time</h2><p>Invocations: {html.escape(total)}. Sum over runs: training "
                 f"{runs['train_s'] / 60:.1f} min, evaluation {runs['eval_s'] / 60:.1f} min (process time, runs side "
                 f"by side). Code version {doc['code_version'][:12]}.</p>")
    for key, title in doc["tables"].items():
        sets = ["seen", "zero_shot"] if key == "t12" else ["seen"]
        body = "".join(_row_table(doc, key, p) for p in sets)
        if key == "t12" and curves:
            body = f"<img src='{curves}' style='image-rendering:auto;max-width:100%'>" + body
        if body:
            parts.append(f"<h2>{html.escape(title)}</h2>{body}")
    parts.append(_gifs(doc))
    parts.append(_claim_details(doc))
    parts.append("<p class=note>Machine-readable: results.json (every row: table, config, seeds, per-seed metrics, "
                 "mean, interval; every claim: per-seed differences, interval, verdict).</p>")
    return "\n".join(parts)


def write_results(cfg: ReproduceConfig, quick: bool, outcome: Any = None) -> dict[str, Path]:
    """Write results.json and index.html (and append this invocation's timing when it ran runs)."""
    out_dir = cfg.for_mode(quick).results_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    inv_path = out_dir / INVOCATIONS_FILE
    invocations = json.loads(inv_path.read_text()) if inv_path.is_file() else []
    if outcome is not None and outcome.finished:
        invocations.append({"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() - outcome.wall_s)),
                            "wall_s": round(outcome.wall_s, 1), "finished": len(outcome.finished),
                            "cached": len(outcome.cached), "failed": len(outcome.failed), "jobs": cfg.jobs,
                            "threads_per_job": cfg.threads_per_job})
        inv_path.write_text(json.dumps(invocations, indent=1) + "\n")
    doc = build_results(cfg, quick)
    doc["invocations"] = invocations
    path = results_path(cfg, quick)
    write_json_atomic(path, doc)
    curves = write_curves(doc, out_dir / "curves.png")
    report = out_dir / REPORT_FILE
    report.write_text(render_html(doc, invocations, curves.name if curves else None))
    return {"results": path, "report": report}
