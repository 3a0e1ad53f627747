"""Distil the student: full MCM (or any preset) from the teacher on the prepared shards. Under kfp.local the trainer
runs in the step (or under a local ``torchrun``); on a cluster the step creates a Kubeflow Trainer ``TrainJob``
running ``torchrun`` on N nodes x G GPUs and waits for it (see ``launch.py``)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import image

DISTILL_IMAGE = image("distill")


@dsl.component(base_image=DISTILL_IMAGE, install_kfp_package=False)
def distill(videos: Input[Dataset], images: Input[Dataset], config: dict, backend: str, run_dir: str,
            local_nproc: int, run_id: str, cluster: dict, trainer_image: str, model: Output[Model],
            metrics: Output[Metrics]):
    """``mcm distill`` (params.yaml ``distill``) on ``videos`` and ``images``: backend ``local`` trains into
    ``run_dir`` (resumable), backend ``trainjob`` runs a TrainJob described by ``cluster``."""
    from pathlib import Path

    from components.distill.launch import distill_local, distill_trainjob, publish_run, with_data

    if backend == "local":
        run = distill_local(with_data(config, videos.path, images.path), run_dir, local_nproc)
    elif backend == "trainjob":
        run = distill_trainjob(config, videos.path, images.path, run_id, cluster, trainer_image)
    else:
        raise ValueError(f"distill backend {backend!r}: expected 'local' or 'trainjob'")
    last = publish_run(Path(run), model.path)
    for key, value in last.items():
        metrics.log_metric(key, value)
    model.metadata.update({"run": str(run), "backend": backend, "updates": int(last.get("step", 0))})
