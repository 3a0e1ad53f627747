"""Publish the exported student to the inference service: generate the Triton model repository (``mcm serve
repository``) and copy it to where the service loads models from (a folder on the shared volume, a bucket, or
locally ``serving/repository`` for ``make serve``)."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from components.images import image


@dsl.component(base_image=image("publish"), install_kfp_package=False)
def publish_model(exported: Input[Model], config: dict, target: str, namespace: str, restart: str,
                  repository: Output[Artifact]):
    """``mcm serve repository`` (params.yaml ``serve``) into ``repository``; then copied to ``target`` (a path or
    an fsspec URL such as gs://bucket/models; empty: not copied) and, when ``restart`` names the serving
    Deployment, its pods restarted so they load it."""
    from components.common import mcm, restore_ints
    from components.publish.copy import publish_folder, restart_deployment

    config = restore_ints(config)
    flags = {"backend": "--backend", "max_batch": "--max-batch", "max_queue_size": "--max-queue-size",
             "instances": "--instances", "latency_buckets_s": "--latency-buckets"}
    args = []
    for key, flag in flags.items():  # what params.yaml leaves out keeps the repository config's default
        if key in config:
            value = config[key]
            args += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    mcm(["serve", "repository", "--export", exported.path, "--out", repository.path, *args])
    if target:
        publish_folder(repository.path, target)
    if restart:
        restart_deployment(namespace, restart)
    repository.metadata.update({"backend": config.get("backend", "python"), "target": target})
