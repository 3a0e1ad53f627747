"""What the Kubeflow pipeline costs over the CLI chain it replaced (issue 13): ``make pipeline-run`` without a cluster
(kfp.local) against the same steps run as CLI verbs one after another, in one run, on the same parameters.

    python bench/pipeline.py            # the embedded default (params.yaml), what make pipeline-run runs
    python bench/pipeline.py --quick    # tiny parameters (pipelines/params_tiny.yaml): plumbing only

The CLI chain is dvc.yaml's stages in their order (world, videos, images, distill, eval x 2, report, export), each
command rendered from the same parameters and run in its own fresh workspace; the pipeline is
``python -m pipelines.run`` in another fresh workspace. Both see the shipped assets (assets/toy, its cached teacher
baselines included) and the same thread count (all cores, as the Makefile gives them). The pipeline does more than
the chain: it fans video preparation out over shard groups and joins them, publishes the Triton model repository
and smoke-tests it on a real Triton server; every kfp.local task also starts its own interpreter.

Goal (the issue): the pipeline takes at most 3 minutes more than the CLI chain.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.params import PARAMS, TINY, load_params, write_params  # noqa: E402

#: The issue's allowance: the pipeline may take this many minutes more than the CLI chain.
OVERHEAD_LIMIT_MIN = 3.0


def chain_commands(ws: Path) -> list[tuple[str, str]]:
    """(stage, shell command) of dvc.yaml's stages, rendered by DVC itself against ``ws``'s params.yaml, in the
    file's order (a topological order of the DAG)."""
    from dvc.repo import Repo

    shutil.copy(ROOT / "dvc.yaml", ws / "dvc.yaml")
    Repo.init(str(ws), no_scm=True)
    with Repo(str(ws)) as repo:
        return [(stage.name, stage.cmd) for stage in repo.index.stages]


def workspace(root: Path, name: str, params: dict[str, Any]) -> Path:
    """A fresh folder with the shipped assets and the parameters as params.yaml (what both runs read)."""
    ws = root / name
    ws.mkdir()
    (ws / "assets").symlink_to(ROOT / "assets")
    write_params(params, ws / "params.yaml")
    return ws


def run(cmd: list[str] | str, cwd: Path, env: dict[str, str], log: Path) -> float:
    """Seconds ``cmd`` took; its output goes to ``log``; a failure ends the benchmark with the log's tail."""
    t0 = time.perf_counter()
    with log.open("a") as out:
        res = subprocess.run(cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"{cmd!r} failed (exit {res.returncode}); the end of {log}:\n{log.read_text()[-3000:]}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny parameters (pipelines/params_tiny.yaml)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="OMP threads of both (default: all)")
    ap.add_argument("--keep", help="keep the two workspaces in this folder (default: a temporary one, removed)")
    args = ap.parse_args()
    params = load_params(PARAMS, [TINY] if args.quick else [])
    serve_venv = Path(os.environ.get("MCM_SERVE_VENV", ROOT / ".venv-serve"))
    if not (serve_venv / "bin/python").exists():
        sys.exit(f"no serving environment at {serve_venv}: run `make serve-venv` (the pipeline's smoke test needs it)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(args.threads), MCM_SERVE_VENV=str(serve_venv))
    env.pop("KFP_HOST", None)  # the local pipeline, never a submission
    root = Path(args.keep or tempfile.mkdtemp(prefix="mcm-bench-pipeline-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        chain_ws = workspace(root, "chain", params)
        stage_s = {}
        for name, cmd in chain_commands(chain_ws):
            print(f"chain: {name} ...", file=sys.stderr, flush=True)
            stage_s[name] = run(cmd.replace("python ", f"{sys.executable} ", 1), chain_ws, env, root / "chain.log")
        chain_s = sum(stage_s.values())
        pipe_ws = workspace(root, "pipeline", params)
        print("pipeline: python -m pipelines.run (kfp.local) ...", file=sys.stderr, flush=True)
        pipe_s = run([sys.executable, "-m", "pipelines.run", "--params", str(pipe_ws / "params.yaml")], pipe_ws, env,
                     root / "pipeline.log")
        for path in ("runs/toy/index.html", "exports/toy/model_index.json", "serving/repository"):
            if not (pipe_ws / path).exists():
                sys.exit(f"the pipeline left no {path} (see {root / 'pipeline.log'})")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    mode = "tiny parameters (--quick: plumbing only)" if args.quick else "the embedded default (params.yaml)"
    print(f"make pipeline-run against the CLI chain, {mode}, {args.threads} threads:")
    print(f"{'step':<22} {'seconds':>8}")
    for name, seconds in stage_s.items():
        print(f"{'chain ' + name:<22} {seconds:8.1f}")
    print(f"{'CLI chain':<22} {chain_s:8.1f}")
    print(f"{'kfp.local':<22} {pipe_s:8.1f}   (+ shard fan-out and join, publish, Triton smoke test)")
    overhead_min = (pipe_s - chain_s) / 60
    print(f"overhead: {overhead_min:+.2f} min ({pipe_s / chain_s:.2f}x the chain)")
    print(f"GOAL pipeline_overhead_over_cli_chain_min_max {overhead_min:.2f} {OVERHEAD_LIMIT_MIN:g} "
          f"{'PASS' if overhead_min <= OVERHEAD_LIMIT_MIN else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
