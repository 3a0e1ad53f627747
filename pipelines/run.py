"""``make pipeline-run`` and ``make pipeline-compile``: run the MCM pipeline locally (kfp.local), submit it to a
Kubeflow cluster, or write its YAML for the Kubeflow UI.

    python -m pipelines.run                        # KFP_HOST unset: kfp.local on the embedded default
    KFP_HOST=https://kubeflow.example.com/pipeline python -m pipelines.run     # compile + submit, print the URL
    python -m pipelines.run --compile pipeline.yaml                           # the YAML to upload in the UI

Secrets come from the environment only: ``KFP_TOKEN`` (a bearer token; else the client's own credentials),
``KFP_NAMESPACE`` (else ``cluster.namespace`` of params.yaml), ``KFP_EXPERIMENT`` (default ``mcm``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from pipelines.params import PARAMS, REPO, load_params

LOCAL_ROOT = "runs/pipeline"  # kfp.local's pipeline_root: one folder per run, one per task inside


def compile_pipeline(params: dict[str, Any], out: str | Path, target: str = "cluster") -> Path:
    from kfp import compiler

    from pipelines.mcm_pipeline import build_pipeline

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(params, target), package_path=str(out))
    return out


def run_local(params: dict[str, Any], pipeline_root: str | Path = LOCAL_ROOT) -> dict[str, Path]:
    """Run every step with kfp.local's SubprocessRunner in this environment; return where the results are."""
    from kfp import local

    from pipelines.mcm_pipeline import PIPELINE_NAME, build_pipeline

    # The steps import components.* / pipelines.* (in the images: PYTHONPATH=/opt/mcm): here, this checkout.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    # kfp.local notes that it ignores display names and that our images are not python:* images: expected here.
    warnings.filterwarnings("ignore", message=r".*(have no effect in the current local runner|non-Python base image)")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    started = time.time()
    build_pipeline(params, "local")()
    runs = sorted((p for p in root.iterdir() if p not in before and p.name.startswith(PIPELINE_NAME)),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RuntimeError(f"kfp.local wrote no run folder under {root}")
    out = locate_outputs(runs[-1], params)
    install_local_results(out, params)
    return out | {"seconds": time.time() - started}


def install_local_results(out: dict[str, Any], params: dict[str, Any]) -> None:
    """Copy a local run's results where the step-by-step commands expect them: the overview and evaluations
    into the run folder (``runs/toy/index.html``), the export into ``export.out`` (``make serve`` and ``mcm
    generate`` read those); the pipeline's own artifacts stay under the kfp.local run folder."""
    import shutil

    run = Path(params["run"]["dir"])
    overview = out["overview"] / "run" if out.get("overview") else None
    if overview is not None and overview.is_dir():
        for name in ("index.html", "speed.json", "eval"):
            src = overview / name
            if src.is_dir():
                shutil.copytree(src, run / name, dirs_exist_ok=True)
            elif src.is_file():
                shutil.copy2(src, run / name)
        out["overview_page"] = run / "index.html"
    if out.get("exported") is not None:
        dst = Path(params["export"]["out"])
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(out["exported"], dst)
        out["export_copy"] = dst


def locate_outputs(run: Path, params: dict[str, Any]) -> dict[str, Any]:
    """The report, the exported model and the model repository of a kfp.local run folder."""
    def find(task: str, output: str) -> Optional[Path]:
        hits = sorted(run.glob(f"{task}*/{output}"))
        return hits[0] if hits else None

    return {"run": run, "report": find("evaluate", "report"), "overview": find("evaluate", "results"),
            "exported": find("export-student", "exported"), "repository": Path(params["serve"]["repository"]),
            "student": Path(params["run"]["dir"])}


def submit(params: dict[str, Any], host: str, package: str | Path) -> str:
    """Compile for the cluster and start a run there; the run's URL."""
    import kfp

    compile_pipeline(params, package, "cluster")
    namespace = os.environ.get("KFP_NAMESPACE") or params["cluster"]["namespace"]
    client = kfp.Client(host=host, existing_token=os.environ.get("KFP_TOKEN") or None, namespace=namespace)
    result = client.create_run_from_pipeline_package(
        str(package), arguments={}, run_name=f"mcm-{time.strftime('%Y%m%d-%H%M%S')}",
        experiment_name=os.environ.get("KFP_EXPERIMENT", "mcm"), namespace=namespace,
        service_account=params["cluster"].get("service_account"))
    return f"{host.rstrip('/')}/#/runs/details/{result.run_id}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=str(PARAMS), help="params.yaml (the one source of the settings)")
    parser.add_argument("--overlay", action="append", default=[], help="YAML deep-merged over the params (repeat)")
    parser.add_argument("--compile", metavar="OUT.yaml", help="only write the cluster pipeline's YAML")
    parser.add_argument("--pipeline-root", default=LOCAL_ROOT, help="kfp.local's output folder")
    args = parser.parse_args(argv)
    params = load_params(args.params, args.overlay)
    if args.compile:
        print(f"compiled: {compile_pipeline(params, args.compile)}")
        return 0
    host = os.environ.get("KFP_HOST")
    if host:
        print(f"submitted: {submit(params, host, Path(args.pipeline_root) / 'mcm-pipeline.yaml')}")
        return 0
    out = run_local(params, args.pipeline_root)
    print(f"\npipeline finished in {out['seconds'] / 60:.1f} min (kfp.local, {out['run']})")
    print(f"report:           {out.get('overview_page')}  (the Kubeflow HTML artifact: {out['report']})")
    print(f"exported model:   {out.get('export_copy')}  (artifact: {out['exported']})")
    print(f"model repository: {out['repository']}  (make serve starts Triton on it)")
    print(f"student run:      {out['student']}  (runs/LATEST)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
