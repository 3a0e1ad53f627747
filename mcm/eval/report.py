"""The evaluation report: metrics tables in the paper's layout, metric-vs-steps plots, a video grid.

Tables follow Table 1 of the paper: one row per method, one column per sampling step, grouped by metric
("FVD@Step" ... "CLIPSIM@Step"); Fréchet metrics are lower-is-better, CLIPSIM higher-is-better, and the
best value of each column is bold. The small world's metrics (protocol "toy") share the tables; every metric
present gets its one-line meaning under them, and the toy per-video rates their 95% intervals. A second table
puts each student row beside the baselines a reader asks for first (:mod:`mcm.eval.comparisons`: the teacher
at the same steps, at equal network evaluations, unguided, and the untrained student). The grid shows the same
prompts and seeds across every method.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mcm.eval.comparisons import student_comparisons
from mcm.eval.config import EvalConfig
from mcm.eval.frechet import FeatureStats
from mcm.eval.toy import TOY_METRICS, toy_protocol_statement

#: (key, title, higher_is_better (None: neither), format) of the reported metrics, in table order; the
#: real protocol's first, then the small world's (mcm.eval.toy). A table shows the metrics a result has.
METRICS = (
    ("fvd", "FVD", False, "{:.1f}"),
    ("motion_fd", "Motion FD", False, "{:.2f}"),
    ("clipsim", "CLIPSIM", True, "{:.2f}"),
    ("fid", "FID", False, "{:.2f}"),
    ("content_fd", "Content FD", False, "{:.4g}"),
    ("fvd_toy", "FVD-toy", False, "{:.4g}"),
    ("prompt_acc", "Prompt acc %", True, "{:.1f}"),
    ("prompt_acc_shape", "Shape acc %", True, "{:.1f}"),
    ("prompt_acc_colour", "Colour acc %", True, "{:.1f}"),
    ("prompt_acc_direction", "Direction acc %", True, "{:.1f}"),
    ("fid_toy", "FID-toy", False, "{:.4g}"),
    ("watermark_rate", "Watermark %", False, "{:.1f}"),
    ("sharpness", "Sharpness", True, "{:.3f}"),
    ("style_rate", "Style %", None, "{:.1f}"),
    ("motion_score", "Motion %", True, "{:.1f}"),
    ("collapsed_rate", "Collapsed %", False, "{:.1f}"),
)
#: One-line meaning of each metric, printed under the tables.
MEANINGS = {
    "fvd": "Fréchet distance of I3D logits, generated vs reference videos (lower: closer video distribution).",
    "motion_fd": "Fréchet distance of temporal power spectra, generated vs reference (lower: more realistic motion).",
    "clipsim": "Mean CLIP similarity of every frame to its prompt, x100 (higher: better text alignment).",
    "fid": "Fréchet distance of Inception features, generated frames vs the reference images (lower: better frames).",
    **TOY_METRICS,
}
PLOT_DPI = 100
MISSING = "–"


def save_gif(video: torch.Tensor, path: Path, fps: int) -> None:
    """Write a (F, C, H, W) video in [0, 1] as a looping GIF."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    frames = (video.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    imageio.mimsave(str(path), list(frames), duration=1.0 / fps, loop=0)


def protocol_statement(cfg: EvalConfig, suite: Any, reference: dict[str, FeatureStats]) -> dict[str, str]:
    """One sentence per metric stating the protocol choices behind its number."""
    if cfg.protocol == "toy":
        return toy_protocol_statement(cfg, suite, reference)
    n_gen = cfg.num_videos or "one per prompt"
    out: dict[str, str] = {}
    f = cfg.fvd
    if suite.fvd is not None:
        weights = f"TorchScript {f.torchscript}" if f.torchscript else f"InceptionI3d safetensors {f.weights}"
        out["fvd"] = (
            f"I3D Kinetics-400 logits (400-d), weights: {weights}; {f.num_frames}-frame clips "
            f"(clip_sampling={f.clip_sampling}), bilinear resize_mode={f.resize_mode} to {f.resolution}, "
            f"values in [-1, 1]; reference clips: {_count(reference, 'fvd')}; generated videos per method: {n_gen}."
        )
    m = cfg.motion
    if suite.motion_fd is not None:
        out["motion_fd"] = (
            f"Fréchet distance of log temporal power spectra: {m.num_frames} frames "
            f"(clip_sampling={m.clip_sampling}), grey, area-pooled to {m.grid}x{m.grid}, averaged in "
            f"{m.blocks}x{m.blocks} cells; reference clips: {_count(reference, 'motion_fd')}."
        )
    if suite.clipsim is not None:
        out["clipsim"] = (
            f"{cfg.clipsim.scale:g} x mean cosine of CLIP ({cfg.clipsim.model}) image embeddings of every frame "
            "and the prompt's text embedding (no clipping at 0); bicubic short-side resize + center crop."
        )
    d = cfg.fid
    if suite.fid is not None:
        frames = "every frame" if d.frames_per_video is None else f"{d.frames_per_video} evenly spaced frames"
        ref = f"images in {d.reference_images}" if d.reference_images else "frames of the reference videos"
        resize = "torchmetrics antialiased bilinear" if d.antialias else "torch-fidelity TF1-compatible bilinear"
        out["fid"] = (
            f"torchmetrics/torch-fidelity InceptionV3 pool features (2048-d), {resize} resize to 299, "
            f"(x*255).byte() quantisation; {frames} per video against {ref} ({_count(reference, 'fid')} images)."
        )
    out["frechet"] = f"Fréchet distances in float64, matrix square root by {cfg.frechet_method}."
    return out


def _count(reference: dict[str, FeatureStats], name: str) -> str:
    return str(reference[name].n) if name in reference else "none (metric skipped)"


def _layout(results: list[dict[str, Any]]) -> tuple[list[str], list[int], dict[tuple[str, int], dict]]:
    methods = list(dict.fromkeys(r["method"] for r in results))
    steps = sorted({r["steps"] for r in results})
    cells = {(r["method"], r["steps"]): r["metrics"] for r in results}
    return methods, steps, cells


def metrics_table_html(results: list[dict[str, Any]]) -> str:
    """HTML table: rows = methods, columns = <metric>@Step s for every metric present."""
    methods, steps, cells = _layout(results)
    present = [m for m in METRICS if any(m[0] in c for c in cells.values())]
    head1 = "<th rowspan=2>Method</th>" + "".join(
        f"<th colspan={len(steps)}>{title}@Step{_arrow(hib)}</th>" for _, title, hib, _ in present
    )
    head2 = "".join(f"<th>{s}</th>" for _ in present for s in steps)
    rows = []
    for method in methods:
        tds = [f"<td>{html.escape(method)}</td>"]
        for key, _, hib, fmt in present:
            for s in steps:
                value = cells.get((method, s), {}).get(key)
                if value is None:
                    tds.append(f"<td>{MISSING}</td>")
                    continue
                column = [c.get(key) for (_, cs), c in cells.items() if cs == s and c.get(key) is not None]
                best = None if hib is None else max(column) if hib else min(column)
                text = fmt.format(value)
                tds.append(f"<td><b>{text}</b></td>" if value == best and len(column) > 1 else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head1}</tr><tr>{head2}</tr>{''.join(rows)}</table>"


#: Metrics of the comparison table (those present are shown).
COMPARISON_METRICS = ("prompt_acc", "prompt_acc_colour", "content_fd", "watermark_rate")


def comparisons_html(results: list[dict[str, Any]]) -> str:
    """The student at each step count beside its baselines (same steps, equal cost, unguided, untrained), with
    the student's difference to each on every metric present (positive: the student is ahead)."""
    groups = student_comparisons(results)
    if not groups or not any(g["baselines"] for g in groups):
        return ""
    titles = {m[0]: (m[1], m[2], m[3]) for m in METRICS}
    present = [k for k in COMPARISON_METRICS
               if any(k in g["student"] for g in groups)]
    head = "<th>student steps</th><th>baseline</th><th>row</th><th>network evaluations</th>" + "".join(
        f"<th>{html.escape(titles[k][0])}</th><th>student ahead by</th>" for k in present)
    rows = []
    for g in groups:
        cells = "".join(f"<td><b>{titles[k][2].format(g['student'][k])}</b></td><td></td>"
                        if g["student"].get(k) is not None else f"<td>{MISSING}</td><td></td>" for k in present)
        rows.append(f"<tr><td>{g['steps']}</td><td>student</td><td>MCM@{g['steps']}</td><td>{g['steps']}</td>"
                    f"{cells}</tr>")
        for b in g["baselines"]:
            tds = []
            for k in present:
                value, own = b["metrics"].get(k), g["student"].get(k)
                if value is None:
                    tds.append(f"<td>{MISSING}</td><td></td>")
                    continue
                ahead = "" if own is None else (own - value if titles[k][1] else value - own)
                tds.append(f"<td>{titles[k][2].format(value)}</td><td>{'' if ahead == '' else f'{ahead:+.4g}'}</td>")
            rows.append(f"<tr><td>{g['steps']}</td><td>{html.escape(b['baseline'])}</td><td>{html.escape(b['key'])}"
                        f"</td><td>{b['evaluations']}</td>{''.join(tds)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _arrow(higher_is_better: bool | None) -> str:
    """' ↑' / ' ↓' after a metric's title, '' when neither direction is better."""
    return "" if higher_is_better is None else " ↑" if higher_is_better else " ↓"


def meanings_html(results: list[dict[str, Any]]) -> str:
    """One line per metric present in the results: what its number means."""
    present = [m for m in METRICS if any(m[0] in r["metrics"] for r in results)]
    items = "".join(
        f"<li><b>{html.escape(title)}</b>{_arrow(hib)}: {html.escape(MEANINGS.get(key, ''))}</li>"
        for key, title, hib, _ in present
    )
    return f"<ul>{items}</ul>"


def intervals_html(results: list[dict[str, Any]]) -> str:
    """95% Wilson intervals of the per-video rates (toy protocol), one row per method spec; '' if none."""
    rows = [r for r in results if r.get("toy", {}).get("intervals_95")]
    if not rows:
        return ""
    keys = [m for m in METRICS if m[0] in rows[0]["toy"]["intervals_95"]]
    head = "<th>method@steps (n)</th>" + "".join(f"<th>{html.escape(title)}</th>" for _, title, _, _ in keys)
    body = []
    for r in rows:
        ci = r["toy"]["intervals_95"]
        cells = "".join(f"<td>{ci[k][0]:.1f}–{ci[k][1]:.1f}</td>" for k, _, _, _ in keys)
        body.append(f"<tr><td>{html.escape(r['key'])} ({r['toy']['num_videos']})</td>{cells}</tr>")
    return f"<h3>95% intervals (Wilson) of the per-video rates</h3><table><tr>{head}</tr>{''.join(body)}</table>"


def plot_metrics(results: list[dict[str, Any]], out_dir: Path) -> list[str]:
    """One PNG per metric: value against steps (log2 axis), one line per method; returns relative paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods, steps, cells = _layout(results)
    files = []
    for key, title, hib, _ in METRICS:
        if not any(key in c for c in cells.values()):
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for method in methods:
            pts = [(s, cells[(method, s)][key]) for s in steps if cells.get((method, s), {}).get(key) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.set_xlabel("sampling steps")
        ax.set_ylabel(title if hib is None else f"{title} ({'higher' if hib else 'lower'} is better)")
        ax.legend(fontsize="small")
        fig.tight_layout()
        rel = f"plot_{key}.png"
        fig.savefig(out_dir / rel, dpi=PLOT_DPI)
        plt.close(fig)
        files.append(rel)
    return files


def grid_html(doc: dict[str, Any]) -> str:
    """Rows: grid prompts (with seeds); columns: method@steps; cells: the GIFs."""
    results, grid = doc["results"], doc["grid"]
    if not grid["indices"]:
        return "<p>No video grid (grid_prompts = 0).</p>"
    head = "<th>prompt (seed)</th>" + "".join(f"<th>{html.escape(r['key'])}</th>" for r in results)
    rows = []
    for row, (prompt, seed) in enumerate(zip(grid["prompts"], grid["seeds"])):
        cells = "".join(f"<td><img src='{html.escape(r['grid_files'][row])}' width=160></td>" for r in results)
        rows.append(f"<tr><td>{html.escape(prompt)} ({seed})</td>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write report.html (tables, plots, protocol, grid) next to metrics.json; returns its path."""
    out_dir = Path(out_dir)
    plots = plot_metrics(doc["results"], out_dir)
    ps = doc["prompt_set"]
    protocol = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in doc["protocol"].items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>mcm eval: {html.escape(ps['name'])}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #bbb;padding:4px 8px;text-align:center}}</style></head><body>
<h1>Evaluation on {html.escape(ps['name'])}</h1>
<p>{ps['num_prompts']} prompts, {ps['num_reference_videos']} reference videos, {doc['world_size']} rank(s).</p>
<h2>Metrics (layout of Table 1)</h2>
{metrics_table_html(doc['results'])}
{meanings_html(doc['results'])}
{intervals_html(doc['results'])}
<h2>The student against the baselines a reader asks for first</h2>
<p>Same steps: the teacher with CFG at the student's steps. Equal cost: CFG costs two network evaluations per
step, so DDIM at half the steps costs what the student's steps cost. Unguided: DDIM with g = 1. Untrained
student: the same network with its LoRA off, the same LCM sampler.</p>
{comparisons_html(doc['results']) or '<p>(no student row or no baseline in this evaluation)</p>'}
<h2>Protocol ({html.escape(doc.get('evaluation_protocol', 'real'))})</h2><ul>{protocol}</ul>
<h2>Metric against steps</h2>
{''.join(f"<img src='{p}'>" for p in plots)}
<h2>Same prompts and seeds across methods</h2>
{grid_html(doc)}
</body></html>
"""
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
