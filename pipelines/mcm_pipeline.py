"""The MCM pipeline: raw videos and images to a served, evaluated student, one Kubeflow component per step.

    world -> prepare_videos (ParallelFor over shard groups) -> merge_video_shards ┐
          -> filter_images ─────────────────────────────────────────────────────┴> distill -> evaluate
                                                                                           -> export -> publish -> smoke_test
    exit handler: delete_trainjobs (a failed or cancelled run leaves no TrainJob holding GPUs)

:func:`build_pipeline` makes the pipeline for one target from ``params.yaml`` (its sections become the pipeline's
parameters, with params.yaml's values as defaults, so a run in the Kubeflow UI can change any of them):

* ``local`` (kfp.local, no cluster): distillation runs in the step (or under a local torchrun), the published
  repository goes to ``serve.repository`` and the smoke test starts a Triton server on it;
* ``cluster``: distillation is a Kubeflow Trainer TrainJob on N nodes x G GPUs; evaluation and export request
  GPUs; node selectors, tolerations, shared memory, the data volume and the secrets come from ``cluster``.
"""


from typing import Any, Callable

from kfp import dsl, kubernetes

from components.cleanup.component import delete_trainjobs
from components.distill.component import distill
from components.evaluate.component import evaluate
from components.export.component import export_student
from components.filter_images.component import filter_images
from components.images import image
from components.merge_shards.component import merge_video_shards
from components.prep_videos.component import prepare_videos
from components.publish.component import publish_model
from components.smoke_test.component import smoke_test
from components.world.component import generate_world

PIPELINE_NAME = "mcm-distillation"
TARGETS = ("local", "cluster")
#: The params.yaml sections the pipeline takes as parameters (one dict parameter each).
SECTIONS = ("world", "data_videos", "data_images", "distill", "eval", "eval_zero_shot", "report", "export", "serve")


def _gpu(task: dsl.PipelineTask, cluster: dict[str, Any], gpus: int) -> dsl.PipelineTask:
    """Request ``gpus`` GPUs on the GPU node pool: accelerator limit, node selector, tolerations, /dev/shm."""
    task.set_accelerator_type(cluster["gpu_resource"]).set_accelerator_limit(gpus)
    for key, value in (cluster.get("node_selector") or {}).items():
        kubernetes.add_node_selector(task, label_key=key, label_value=str(value))
    for tol in cluster.get("tolerations") or []:
        kubernetes.add_toleration(task, key=tol.get("key"), operator=tol.get("operator"), value=tol.get("value"),
                                  effect=tol.get("effect"))
    kubernetes.empty_dir_mount(task, volume_name="dshm", mount_path="/dev/shm", medium="Memory",
                               size_limit=cluster.get("shm_size"))
    return task


def _secrets(task: dsl.PipelineTask, cluster: dict[str, Any], which: tuple[str, ...]) -> dsl.PipelineTask:
    """Environment variables from Kubernetes secrets (``cluster.secrets``): names only, never values."""
    for name in which:
        spec = (cluster.get("secrets") or {}).get(name)
        if spec:
            kubernetes.use_secret_as_env(task, secret_name=spec["secret"], secret_key_to_env={spec["key"]: spec["env"]},
                                         optional=True)
    return task


def build_pipeline(params: dict[str, Any], target: str = "local") -> Callable:
    """The pipeline function for ``target`` with ``params`` (params.yaml, overlays merged) as its defaults."""
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: expected one of {TARGETS}")
    missing = [s for s in (*SECTIONS, "run", "pipeline", "cluster") if s not in params]
    if missing:
        raise ValueError(f"params: missing sections {missing}")
    groups = list(range(int(params["pipeline"]["shard_groups"])))
    cluster = params["cluster"]
    on_cluster = target == "cluster"
    smoke_config = dict(params["pipeline"]["smoke"])
    world_root = params["world"]["out"]
    defaults = {s: params[s] for s in SECTIONS}

    @dsl.pipeline(name=PIPELINE_NAME, description="Motion Consistency Model: distil a text-to-video teacher into a "
                  "1-4 step student, evaluate it, export it and serve it.")
    def mcm_pipeline(world: dict = defaults["world"], data_videos: dict = defaults["data_videos"],
                     data_images: dict = defaults["data_images"], distill_config: dict = defaults["distill"],
                     eval_seen: dict = defaults["eval"], eval_zero_shot: dict = defaults["eval_zero_shot"],
                     report: dict = defaults["report"], export: dict = defaults["export"],
                     serve: dict = defaults["serve"], smoke: dict = smoke_config,
                     local_nproc: int = int(params["pipeline"].get("local_nproc", 1))):
        run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER
        namespace = cluster["namespace"]
        exit_task = delete_trainjobs(backend="trainjob" if on_cluster else "local", namespace=namespace,
                                     run_id=run_id)
        exit_task.set_display_name("delete TrainJobs (exit handler)").set_caching_options(False)
        with dsl.ExitHandler(exit_task, name="mcm"):
            world_task = generate_world(config=world).set_display_name("world")
            with dsl.ParallelFor(groups, name="shard-groups") as group:
                prep = prepare_videos(world=world_task.outputs["world"], config=data_videos, group=group,
                                      num_groups=len(groups))
                prep.set_display_name("prepare videos (shard group)")
            merged = merge_video_shards(world=world_task.outputs["world"], groups=dsl.Collected(prep.outputs["shards"]),
                                        config=data_videos).set_display_name("merge video shards")
            images = filter_images(world=world_task.outputs["world"], config=data_images)
            images.set_display_name("filter images")
            train = distill(videos=merged.outputs["videos"], images=images.outputs["images"], config=distill_config,
                            backend="trainjob" if on_cluster else "local",
                            run_dir="" if on_cluster else params["run"]["dir"], local_nproc=local_nproc,
                            run_id=run_id, cluster=cluster, trainer_image=image("distill"))
            train.set_display_name("distill").set_caching_options(False)
            ev = evaluate(model=train.outputs["model"], world=world_task.outputs["world"], world_root=world_root,
                          seen=eval_seen, zero_shot=eval_zero_shot, report_config=report)
            ev.set_display_name("evaluate")
            exported = export_student(model=train.outputs["model"], config=export).set_display_name("export")
            publish = publish_model(exported=exported.outputs["exported"], config=serve,
                                    target=cluster["publish_path"] if on_cluster else params["serve"]["repository"],
                                    namespace=namespace, restart=cluster["serve_deployment"] if on_cluster else "")
            publish.set_display_name("publish to the inference service")
            smoke_task = smoke_test(repository=publish.outputs["repository"], config=smoke,
                                    url=cluster["inference_url"] if on_cluster else "")
            smoke_task.set_display_name("smoke test of the served model")
            if on_cluster:
                _cluster_settings(cluster, world_task, prep, merged, images, train, ev, exported, publish, smoke_task,
                                  exit_task)

    return mcm_pipeline


def _cluster_settings(cluster: dict[str, Any], world_task, prep, merged, images, train, ev, exported, publish,
                      smoke_task, exit_task) -> None:
    """Kubernetes settings of each step on a cluster (kfp-kubernetes)."""
    timeout = int(cluster.get("step_timeout_s", 172800))
    for task in (world_task, prep, merged, images, train, ev, exported, publish, smoke_task, exit_task):
        kubernetes.set_timeout(task, timeout)
    # The distillation step copies the shards onto the shared volume and waits for the TrainJob, which mounts the
    # same claim; a retried step re-attaches to (or recreates) the job, whose --resume continues the run.
    kubernetes.mount_pvc(train, pvc_name=cluster["pvc"], mount_path=cluster["mount_path"])
    train.set_retry(num_retries=2, backoff_duration="60s")
    _secrets(_gpu(ev, cluster, int(cluster.get("eval_gpus", 1))), cluster, ("hub_token",))
    _secrets(_gpu(exported, cluster, int(cluster.get("export_gpus", 1))), cluster, ("hub_token",))
    kubernetes.mount_pvc(publish, pvc_name=cluster["models_pvc"],
                         mount_path=str(cluster["publish_path"]).rsplit("/", 1)[0] or "/")
    _secrets(publish, cluster, ("bucket",))
    # k8s/serve/networkpolicy.yaml admits only pods with this label to the inference service's ports.
    kubernetes.add_pod_label(smoke_task, label_key="mcm.io/inference-client", label_value="true")
    for task in (ev, exported):
        task.set_memory_limit("64G").set_cpu_limit("8")
