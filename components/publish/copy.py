"""Copy a model repository to the inference service's store: a local or mounted folder (replaced atomically: the
new tree is written beside it and swapped in, so a polling Triton never sees half a model) or an fsspec URL."""

from __future__ import annotations

import shutil
from pathlib import Path


def publish_folder(src: str, target: str) -> str:
    if "://" in target:
        import fsspec

        fs, path = fsspec.core.url_to_fs(target)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        fs.put(src.rstrip("/") + "/", path, recursive=True)
        return target
    dst = Path(target)
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = dst.with_name(f".{dst.name}.new")
    old = dst.with_name(f".{dst.name}.old")
    for p in (staging, old):
        shutil.rmtree(p, ignore_errors=True)
    shutil.copytree(src, staging)
    if dst.exists():
        dst.rename(old)
    staging.rename(dst)
    shutil.rmtree(old, ignore_errors=True)
    return str(dst)


def restart_deployment(namespace: str, name: str) -> None:
    """``kubectl rollout restart`` of the serving Deployment (its pods copy the published repository at start)."""
    import datetime
    import os

    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)  # read now, not at import
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
    body = {"spec": {"template": {"metadata": {"annotations": {"mcm.dev/published-at": stamp}}}}}
    client.AppsV1Api().patch_namespaced_deployment(name, namespace, body)
    print(f"restarted deployment {namespace}/{name} (published at {stamp})")
