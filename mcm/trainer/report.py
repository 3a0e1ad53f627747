"""A run's HTML report: loss curves, validation videos by step with their collapse statistics, the config.

Written by ``mcm distill`` when a run ends (and by ``write_run_report(run_dir)`` at any time): open
``RUN/report.html`` in a browser. Plots are PNGs next to it; videos are linked from ``validation/``.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from mcm.trainer.metrics import read_metrics

REPORT = "report.html"
PLOT_DIR = "report"
SKIP_KEYS = {"step", "time"}
VIDEO_WIDTH_PX = 192


def _series(records: list[dict]) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for r in records:
        for key, value in r.items():
            if key not in SKIP_KEYS and isinstance(value, (int, float)):
                series[key][0].append(r["step"])
                series[key][1].append(value)
    return dict(series)


def _plot(key: str, steps: list[int], values: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 2.6), dpi=100)
    ax.plot(steps, values, marker="." if len(steps) < 50 else None)
    ax.set_xlabel("update")
    ax.set_title(key)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``RUN/report.html`` from the run's metrics, validation videos and config; returns its path."""
    run = Path(run_dir)
    plots = run / PLOT_DIR
    plots.mkdir(parents=True, exist_ok=True)
    records = read_metrics(run)
    parts = [f"<h1>Distillation run {html.escape(run.name)}</h1>"]

    series = _series(records)
    if series:
        parts.append("<h2>Training curves</h2><div>")
        for key, (steps, values) in sorted(series.items()):
            png = plots / f"{key.replace('/', '_')}.png"
            _plot(key, steps, values, png)
            parts.append(f'<img src="{PLOT_DIR}/{png.name}" alt="{html.escape(key)}">')
        parts.append("</div>")
        last = {k: v[1][-1] for k, v in series.items()}
        parts.append("<h2>Last values</h2><table>")
        parts += [f"<tr><td>{html.escape(k)}</td><td>{v:.6g}</td></tr>" for k, v in sorted(last.items())]
        parts.append("</table>")

    validation = sorted((run / "validation").glob("step-*")) if (run / "validation").is_dir() else []
    if validation:
        stats = {r["step"]: r for r in records if "val_near_black" in r}
        parts.append("<h2>Validation videos (fixed prompts and seeds)</h2>")
        for folder in validation:
            step = int(folder.name.split("-")[-1])
            s = stats.get(step, {})
            note = ", ".join(f"{k} {s[k]:.3g}" for k in sorted(s) if k.startswith("val_"))
            parts.append(f"<h3>update {step}</h3><p>{html.escape(note)}</p><div>")
            for video in sorted(folder.glob("*.mp4")):
                rel = video.relative_to(run).as_posix()
                parts.append(
                    f'<figure style="display:inline-block"><video src="{rel}" width="{VIDEO_WIDTH_PX}" autoplay loop '
                    f'muted playsinline></video><figcaption>{html.escape(video.stem)}</figcaption></figure>'
                )
            parts.append("</div>")

    config = run / "config.yaml"
    if config.is_file():
        parts.append(f"<h2>Configuration</h2><pre>{html.escape(config.read_text())}</pre>")
    style = "body{font-family:sans-serif;margin:2em} img{margin:4px} td{padding:2px 12px} pre{background:#f4f4f4}"
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run.name)}</title>" \
           f"<style>{style}</style></head><body>{''.join(parts)}</body></html>"
    out = run / REPORT
    out.write_text(page, encoding="utf-8")
    return out
