"""What the exit handler deletes: every TrainJob labelled with the pipeline run, unless the run succeeded."""

from __future__ import annotations

from components.distill.launch import RUN_LABEL, trainjob_name

#: Final states after which the run's jobs are kept (finished jobs hold no GPUs; their status stays readable).
KEEP_STATES = ("SUCCEEDED",)


def cleanup(backend: str, namespace: str, run_id: str, state: str, client=None) -> list[str]:
    if backend != "trainjob" or state in KEEP_STATES:
        print(f"exit handler: run {state}, backend {backend}: nothing to delete")
        return []
    from pipelines.kube import TrainJobClient

    client = client or TrainJobClient.from_environment()
    deleted = client.delete_by_label(namespace, f"{RUN_LABEL}={trainjob_name(run_id, 'run')}")
    print(f"exit handler: run {state}: deleted TrainJobs {deleted or 'none'}")
    return deleted
