"""The paper's tables in miniature (issue 11): time of the reproduction, size of what is committed, and the
verdicts of the committed full run.

    python bench/reproduce.py            # runs `mcm reproduce --quick` from an empty quick cache (timed), then
                                         # reads the committed full run (docs/results/toy)
    python bench/reproduce.py --quick    # under a minute: reads the committed full run and the last quick run

The full reproduction (`make reproduce-toy`, about 1.5 hours on 2 cores) is not re-run here: its wall time is
read from docs/results/toy/invocations.json, written by the reproduction itself (every invocation that ran runs,
plus the run time of runs an interrupted invocation finished before them).

Goals: the full run at most 120 minutes on 2 cores from an empty cache; QUICK=1 at most 10 minutes; what is
committed under docs/results at most 5 MB; every claim of the full run decided from at least 3 paired seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mcm.reproduce.config import load_reproduce_config  # noqa: E402

FULL_MINUTES_MAX = 120.0
QUICK_MINUTES_MAX = 10.0
RESULTS_MB_MAX = 5.0
MIN_SEEDS = 3
MB = 2**20


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB


#: What `make reproduce-toy` writes before it reproduces, when missing: (the file that shows it is there, the params.yaml
#: section, the mcm verb). Timed with the quick run: a fresh clone's `make reproduce-toy QUICK=1` runs them too.
INPUTS = (("data/world/world.json", "world", ["world"]),
          ("data/prepared/videos/manifest.json", "data_videos", ["data", "videos"]),
          ("data/prepared/images/manifest.json", "data_images", ["data", "images"]),
          ("data/prepared/styled/manifest.json", "data_styled", ["data", "images"]))


def mcm(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-m", "mcm.cli.main", *args], cwd=ROOT, env=env, check=True)


def run_quick(cfg) -> float:
    """Minutes of `make reproduce-toy QUICK=1` from an empty quick work folder and results folder: the world and
    its prepared data where missing (as the Makefile does), then `mcm reproduce --quick` with one job per core."""
    quick = cfg.for_mode(True)
    for folder in (quick.work_dir, quick.results_dir):
        shutil.rmtree(ROOT / folder, ignore_errors=True)
    cores = os.cpu_count() or 1
    t0 = time.time()
    for marker, section, verb in INPUTS:
        if not (ROOT / marker).is_file():
            mcm([*verb, "--config", "params.yaml", "--section", section], threads=cores)
    print(f"inputs ready in {(time.time() - t0) / 60:.1f} min", flush=True)
    mcm(["reproduce", "--config", "toy", "--quick", "--jobs", str(cores)], threads=1)
    return (time.time() - t0) / 60


def quick_minutes_on_record(cfg) -> float | None:
    path = ROOT / cfg.for_mode(True).results_dir / "invocations.json"
    if not path.is_file():
        return None
    runs = [i for i in json.loads(path.read_text()) if i.get("cached") == 0]
    return runs[-1]["wall_s"] / 60 if runs else None


def full_run_minutes(results_dir: Path, invocations: list[dict]) -> float | None:
    """Minutes from an empty cache: the recorded invocations' wall time, plus the run time of result files
    finished before the first of them (an interrupted invocation records no wall time, its runs do)."""
    if not invocations:
        return None
    first = min(i["started"] for i in invocations)  # "YYYY-MM-DD HH:MM UTC" sorts as time
    earlier = 0.0
    for path in (results_dir / "runs").rglob("*.json"):
        doc = json.loads(path.read_text())
        finished = doc.get("finished_at", "").replace("T", " ")[:16]
        if finished and finished < first[:16]:
            earlier += doc.get("timing", {}).get("wall_s", 0.0)
    return (sum(i["wall_s"] for i in invocations) + earlier) / 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="read the records only (under a minute)")
    args = parser.parse_args()
    os.chdir(ROOT)
    cfg = load_reproduce_config("toy")
    quick_min = quick_minutes_on_record(cfg) if args.quick else run_quick(cfg)

    results = ROOT / cfg.results_dir / "results.json"
    doc = json.loads(results.read_text()) if results.is_file() else None
    invocations = json.loads((ROOT / cfg.results_dir / "invocations.json").read_text()) \
        if (ROOT / cfg.results_dir / "invocations.json").is_file() else []
    full_min = full_run_minutes(ROOT / cfg.results_dir, invocations)
    spanned = sum(i["wall_s"] for i in invocations) / 60 if invocations else None

    print(f"{'claim':<72} {'prompts':<9} {'mean diff [95% CI]':<28} {'n':>2}  verdict")
    min_n = None
    if doc is not None:
        for c in doc["claims"]:
            iv = c.get("interval") or {}
            n = iv.get("n", 0)
            min_n = n if min_n is None else min(min_n, n)
            text = "–" if not iv else (f"{iv['mean']:+.2f} [{iv['low']:+.2f}, {iv['high']:+.2f}]"
                                       if iv.get("low") is not None else f"{iv['mean']:+.2f}")
            print(f"{c['claim'][:71]:<72} {c['prompt_set']:<9} {text:<28} {n:>2}  {c['verdict']}")
        counts = {}
        for c in doc["claims"]:
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
        print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        print(f"runs done {doc['runs']['done']}/{doc['runs']['planned']}; sum over runs: training "
              f"{doc['runs']['train_s'] / 60:.1f} min, evaluation {doc['runs']['eval_s'] / 60:.1f} min")
    else:
        print(f"no full run on record ({results})")
    size = folder_mb(ROOT / "docs" / "results")
    print(f"full run from an empty cache: {'%.1f min' % full_min if full_min else 'not on record'}; "
          f"all invocations together: {'%.1f min' % spanned if spanned else '-'}")
    print(f"quick run: {'%.1f min' % quick_min if quick_min else 'not on record'}; docs/results: {size:.2f} MB")

    def goal(name: str, value: float | None, target: float, ok: bool) -> None:
        shown = "nan" if value is None else f"{value:.2f}"
        print(f"GOAL {name} {shown} {target:g} {'PASS' if value is not None and ok else 'MISS'}")

    goal("reproduce_full_minutes_max", full_min, FULL_MINUTES_MAX, full_min is not None and full_min <= FULL_MINUTES_MAX)
    goal("reproduce_quick_minutes_max", quick_min, QUICK_MINUTES_MAX,
         quick_min is not None and quick_min <= QUICK_MINUTES_MAX)
    goal("results_committed_mb_max", size, RESULTS_MB_MAX, size <= RESULTS_MB_MAX)
    goal("claims_min_paired_seeds", None if min_n is None else float(min_n), MIN_SEEDS,
         min_n is not None and min_n >= MIN_SEEDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
