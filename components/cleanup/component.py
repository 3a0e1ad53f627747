"""The pipeline's exit handler: when the run failed or was cancelled, delete the run's TrainJobs so no GPUs stay
held (the distillation step also deletes its job on SIGTERM; this catches a step that never got the signal)."""

from kfp import dsl

from components.images import image


@dsl.component(base_image=image("distill"), install_kfp_package=False)
def delete_trainjobs(backend: str, namespace: str, run_id: str, status: dsl.PipelineTaskFinalStatus) -> str:
    """Delete the TrainJobs labelled with this run (backend ``trainjob``, run not SUCCEEDED); the names deleted."""
    from components.cleanup.delete import cleanup

    return ",".join(cleanup(backend, namespace, run_id, status.state))
