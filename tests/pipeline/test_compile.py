"""The compiled pipeline (what is uploaded in the Kubeflow UI), read back as YAML: every step has its image and the
release tag, evaluation and export request GPUs on the GPU pool, volumes and secrets are where they belong, the
exit handler is wired, and params.yaml's values are the parameters' defaults."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from components.images import image
from pipelines.params import REPO, load_params
from pipelines.run import compile_pipeline

STEPS = {  # executor -> image of images/images.yaml
    "exec-generate-world": "world", "exec-prepare-videos": "data", "exec-merge-video-shards": "data",
    "exec-filter-images": "data", "exec-distill": "distill", "exec-evaluate": "eval", "exec-export-student": "export",
    "exec-publish-model": "publish", "exec-smoke-test": "smoke", "exec-delete-trainjobs": "distill",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    params = load_params()
    path = compile_pipeline(params, tmp_path_factory.mktemp("compiled") / "pipeline.yaml", "cluster")
    spec, platform = yaml.safe_load_all(path.read_text())
    return params, spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_every_step_has_its_image_and_the_release_tag(compiled):
    _, spec, _ = compiled
    table = yaml.safe_load((REPO / "images/images.yaml").read_text())
    executors = spec["deploymentSpec"]["executors"]
    assert set(executors) == set(STEPS)
    for name, step in STEPS.items():
        container = executors[name]["container"]
        assert container["image"] == image(step)
        assert container["image"].endswith(f":{table['tag']}") and container["image"].startswith(table["registry"])
        # no pip install at run time: kfp is in the image (the venv is not writable by the step's user)
        assert "pip install" not in " ".join(container["command"])


def test_evaluation_and_export_request_gpus_on_the_gpu_pool(compiled):
    params, spec, k8s = compiled
    cluster = params["cluster"]
    executors = spec["deploymentSpec"]["executors"]
    for name, gpus in (("exec-evaluate", cluster["eval_gpus"]), ("exec-export-student", cluster["export_gpus"])):
        acc = executors[name]["container"]["resources"]["accelerator"]
        assert acc["resourceType"] == cluster["gpu_resource"] and int(acc["resourceCount"]) == gpus >= 1
        assert k8s[name]["nodeSelector"]["labels"] == cluster["node_selector"]
        assert [{k: t[k] for k in ("key", "operator", "effect")} for t in k8s[name]["tolerations"]] == \
            cluster["tolerations"]
        shm = k8s[name]["emptyDirMounts"][0]
        assert (shm["mountPath"], shm["medium"], shm["sizeLimit"]) == ("/dev/shm", "Memory", cluster["shm_size"])
    # CPU steps ask for no GPU and sit on no GPU node
    for name in ("exec-generate-world", "exec-prepare-videos", "exec-filter-images", "exec-smoke-test"):
        assert "accelerator" not in (executors[name]["container"].get("resources") or {})
        assert "nodeSelector" not in k8s.get(name, {})


def test_volumes_secrets_and_labels_are_where_they_belong(compiled):
    params, _, k8s = compiled
    cluster = params["cluster"]
    assert k8s["exec-distill"]["pvcMount"] == [
        {"constant": cluster["pvc"], "mountPath": cluster["mount_path"],
         "pvcNameParameter": {"runtimeValue": {"constant": cluster["pvc"]}}}]
    assert k8s["exec-publish-model"]["pvcMount"][0]["constant"] == cluster["models_pvc"]
    assert cluster["publish_path"].startswith(k8s["exec-publish-model"]["pvcMount"][0]["mountPath"] + "/")
    hub = cluster["secrets"]["hub_token"]
    for name in ("exec-evaluate", "exec-export-student"):
        (secret,) = k8s[name]["secretAsEnv"]
        assert secret["secretName"] == hub["secret"]
        assert secret["keyToEnv"] == [{"envVar": hub["env"], "secretKey": hub["key"]}]
    assert k8s["exec-publish-model"]["secretAsEnv"][0]["secretName"] == cluster["secrets"]["bucket"]["secret"]
    assert k8s["exec-smoke-test"]["podMetadata"]["labels"] == {"mcm.io/inference-client": "true"}
    for name in STEPS:  # every step is bounded in time
        assert int(k8s[name]["activeDeadlineSeconds"]) == cluster["step_timeout_s"]


def test_no_secret_value_is_in_the_pipeline(compiled, tmp_path):
    """Credentials come from Kubernetes secrets by name: the compiled YAML holds no token value."""
    params, _, _ = compiled
    text = compile_pipeline(params, tmp_path / "p.yaml", "cluster").read_text()
    for fake in ("hf_", "ya29.", "BEGIN PRIVATE KEY"):
        assert fake not in text


def test_exit_handler_deletes_the_runs_trainjobs(compiled):
    _, spec, _ = compiled
    tasks = spec["root"]["dag"]["tasks"]
    exit_task = tasks["delete-trainjobs"]
    assert exit_task["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert exit_task["dependentTasks"] == ["exit-handler-1"]
    assert exit_task["inputs"]["parameters"]["status"] == {"taskFinalStatus": {"producerTask": "exit-handler-1"}}
    assert exit_task["inputs"]["parameters"]["backend"]["runtimeValue"]["constant"] == "trainjob"
    assert not exit_task.get("cachingOptions", {}).get("enableCache")  # never skipped by the cache
    inner = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert {"generate-world", "distill", "evaluate", "export-student", "publish-model", "smoke-test",
            "merge-video-shards", "filter-images"} <= set(inner)
    assert any(name.startswith("for-loop-") for name in inner)
    distill = inner["distill"]
    assert distill["retryPolicy"]["maxRetryCount"] == 2  # a retried step resumes from the newest checkpoint
    assert distill["inputs"]["parameters"]["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"


def test_data_prep_fans_out_over_shard_groups_and_joins(compiled):
    params, spec, _ = compiled
    inner = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    (loop_name,) = [name for name in inner if name.startswith("for-loop-")]
    loop = inner[loop_name]
    groups = params["pipeline"]["shard_groups"]
    assert groups >= 2 and yaml.safe_load(loop["parameterIterator"]["items"]["raw"]) == list(range(groups))
    assert loop["taskInfo"]["name"] == "shard-groups"
    loop_tasks = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]
    assert list(loop_tasks) == ["prepare-videos"]
    merge = inner["merge-video-shards"]
    assert merge["inputs"]["artifacts"]["groups"]["taskOutputArtifact"]["producerTask"] == loop_name


def test_params_yaml_values_are_the_parameter_defaults(compiled):
    params, spec, _ = compiled
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["world"]["defaultValue"] == params["world"]
    assert inputs["distill_config"]["defaultValue"] == params["distill"]
    assert inputs["eval_seen"]["defaultValue"] == params["eval"]
    assert inputs["serve"]["defaultValue"] == params["serve"]


def test_make_pipeline_compile_writes_the_yaml(tmp_path):
    out = tmp_path / "mcm.yaml"
    res = subprocess.run([sys.executable, "-m", "pipelines.run", "--compile", str(out)], cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load_all(out.read_text()) and "mcm-distillation" in out.read_text()


def test_bad_target_and_missing_section_are_named():
    from pipelines.mcm_pipeline import build_pipeline

    with pytest.raises(ValueError, match="target 'gke'"):
        build_pipeline(load_params(), "gke")
    params = load_params()
    del params["export"]
    with pytest.raises(ValueError, match="export"):
        build_pipeline(params, "local")


def test_the_library_never_imports_kubeflow():
    code = ("import sys, mcm.cli.main, mcm.trainer.trainer, mcm.eval.runner, mcm.export, mcm.serve.repository; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('kfp', 'kubernetes', 'components', 'pipelines')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO / "tests", capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    for path in (REPO / "mcm").rglob("*.py"):
        text = path.read_text()
        assert "import kfp" not in text and "from kfp" not in text and "from pipelines" not in text, path
