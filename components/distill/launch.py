"""The distillation step's work, outside the component body so it can be tested: where the run folder lives, how
the trainer is launched (in-process CLI or a local ``torchrun`` under kfp.local; a Kubeflow Trainer ``TrainJob`` on
a cluster), and what the step reports.

On a cluster the step itself only copies the prepared shards onto the shared volume, renders the TrainJob
(:func:`pipelines.trainjob.render_trainjob`), waits for it while streaming its state into the step's log, and
copies the student back as the ``model`` artifact. The job's name is derived from the pipeline run, so a retried
step finds the same run folder on the volume and the trainer's ``--resume`` continues from its newest checkpoint.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from components.common import copy_tree, mcm, write_config

#: What the model artifact leaves out of the run folder (resumable state stays on the volume / local disk): the
#: checkpoints are replaced by the newest one's weights and completion marker (what the samplers load).
NOT_IN_MODEL = {"checkpoints", "LATEST"}
CHECKPOINT_FILES = ("weights.safetensors", "state.json")  # mcm.runs.checkpoint.WEIGHTS, STATE
#: Seconds between two reads of the TrainJob's status (the environment variable overrides it, for tests).
DEFAULT_POLL_S, POLL_ENV = 10.0, "MCM_TRAINJOB_POLL_S"
#: Label the exit handler deletes jobs by.
RUN_LABEL = "mcm.dev/pipeline-run"


def with_data(config: dict[str, Any], videos: str, images: Optional[str]) -> dict[str, Any]:
    """The distill section with its video (and, when it uses one, image) shards replaced by the given folders."""
    section = copy.deepcopy(config)
    section.setdefault("data", {})["path"] = videos
    if images is not None and section.get("images") is not None:
        section["images"]["path"] = images
    return section


def last_metrics(run: Path, keys: tuple[str, ...] = ("loss", "loss_cd", "loss_mcd", "loss_adv_g", "d_loss")) -> dict:
    """The chosen scalars of the trainer's last logged update (``metrics.jsonl``), plus its step."""
    log = run / "metrics.jsonl"
    if not log.is_file():
        return {}
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    if not lines:
        return {}
    last = json.loads(lines[-1])
    return {k: float(last[k]) for k in ("step", *keys) if k in last}


def local_launcher(nproc: int) -> list[str]:
    """``torchrun`` on this machine for ``nproc`` > 1 processes (gloo on CPU); nothing for one process."""
    if nproc <= 1:
        return []
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]


def distill_local(section: dict[str, Any], run_dir: str, nproc: int) -> Path:
    """Train into ``run_dir`` (resuming when it holds checkpoints), in-process or under a local torchrun."""
    mcm(["distill", "--config", write_config(section, "distill"), "--output", run_dir, "--resume"],
        launcher=local_launcher(nproc))
    return Path(run_dir)


def trainjob_name(run_id: str, prefix: str = "mcm-distill") -> str:
    """A DNS-1035 name for the run's TrainJob (the same on every retry of the step)."""
    clean = "".join(c if c.isalnum() else "-" for c in run_id.lower()).strip("-")
    return f"{prefix}-{clean}"[:63].rstrip("-")


def distill_trainjob(section: dict[str, Any], videos: str, images: Optional[str], run_id: str,
                     cluster: dict[str, Any], image: str, log: Callable[[str], None] = print) -> Path:
    """Copy the shards onto the shared volume, run the TrainJob there and return the run folder on the volume."""
    from pipelines.kube import TrainJobClient, run_trainjob
    from pipelines.trainjob import SecretEnv, TrainJobParams, render_trainjob

    mount = Path(cluster["mount_path"])
    name = trainjob_name(run_id)
    data = mount / "pipeline-data" / name
    copy_tree(videos, data / "videos")
    if images is not None:
        copy_tree(images, data / "images")
    run = mount / "runs" / name
    run.mkdir(parents=True, exist_ok=True)
    config = run / "pipeline-config.yaml"
    Path(config).write_text(Path(write_config(with_data(section, str(data / "videos"),
                                                        str(data / "images") if images else None))).read_text())
    trainer = cluster["trainer"]
    params = TrainJobParams(
        name=name, namespace=cluster["namespace"], labels={RUN_LABEL: trainjob_name(run_id, "run")},
        runtime=trainer.get("runtime", "mcm-torch-distributed"), image=image,
        command=["mcm", "distill", "--config", str(config), "--output", str(run), "--resume"],
        num_nodes=trainer["num_nodes"], gpus_per_node=trainer["gpus_per_node"],
        pvc_name=cluster["pvc"], mount_path=str(mount), shm_size=cluster.get("shm_size", "16Gi"),
        node_selector=cluster.get("node_selector") or {}, tolerations=cluster.get("tolerations") or [],
        secret_env=[SecretEnv(name=s["env"], secret=s["secret"], key=s["key"])
                    for s in (cluster.get("secrets") or {}).values()],
    )
    client = TrainJobClient.from_environment(poll_s=float(os.environ.get(POLL_ENV, DEFAULT_POLL_S)))
    run_trainjob(client, render_trainjob(params), log=log)
    return run


def publish_run(run: Path, model_path: str) -> dict[str, Any]:
    """Copy the run folder (config, final student, logs, curves; no checkpoints) into the model artifact."""
    import shutil

    copy_tree(run, model_path, skip=NOT_IN_MODEL)
    if not (Path(model_path) / "final").is_dir():
        raise RuntimeError(f"distillation finished without a final student in {run}/final")
    done = sorted(p for p in (run / "checkpoints").glob("checkpoint-*") if (p / "state.json").is_file())
    if done:
        target = Path(model_path) / "checkpoints" / done[-1].name
        target.mkdir(parents=True, exist_ok=True)
        for name in CHECKPOINT_FILES:
            shutil.copy2(done[-1] / name, target / name)
    return last_metrics(Path(model_path))
