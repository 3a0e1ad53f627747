"""The TrainJob builder: what it renders (nodes, GPUs, image, command, volumes, scheduling, secrets), the errors
of bad parameters, and the round trip through the Kubeflow Trainer's own API models (kubeflow-trainer-api)."""

import json

import pytest
from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob
from pydantic import ValidationError

from pipelines.trainjob import RUN_LABEL, SecretEnv, Toleration, TrainJobParams, render_trainjob

COMMAND = ["mcm", "distill", "--config", "modelscope", "--output", "/mnt/mcm/runs/ms", "--resume"]
GPU_NODES = dict(
    name="mcm-ms-3f2a", namespace="team-a", labels={RUN_LABEL: "5b0e2c4e-1d7a-4a7e-9f00-2a1b3c4d5e6f"},
    image="ghcr.io/mcm-project/mcm-distill:0.1.0", command=COMMAND, num_nodes=4, gpus_per_node=8, cpu="32",
    memory="400Gi", env={"NCCL_DEBUG": "WARN", "TOKENIZERS_PARALLELISM": "false"},
    secret_env=[SecretEnv(name="HF_TOKEN", secret="mcm-hub", key="token"),
                SecretEnv(name="AWS_SECRET_ACCESS_KEY", secret="mcm-bucket", key="secret-key")],
    node_selector={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
    tolerations=[Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
    service_account="mcm-trainer",
)


def pod_patch(manifest: dict) -> dict:
    (patch,) = manifest["spec"]["runtimePatches"]
    (job,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert job["name"] == "node"  # the torch runtime's replicated job
    return job["template"]["spec"]["template"]


def test_gpu_nodes_render_the_trainer_spec():
    m = render_trainjob(TrainJobParams(**GPU_NODES))
    assert (m["apiVersion"], m["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert m["metadata"] == {"name": "mcm-ms-3f2a", "namespace": "team-a", "labels": GPU_NODES["labels"]}
    assert m["spec"]["runtimeRef"] == {"name": "mcm-torch-distributed", "apiGroup": "trainer.kubeflow.org",
                                       "kind": "ClusterTrainingRuntime"}
    trainer = m["spec"]["trainer"]
    assert trainer["image"] == "ghcr.io/mcm-project/mcm-distill:0.1.0"
    assert trainer["command"] == ["torchrun", "--no-python"] and trainer["args"] == COMMAND
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (4, 8)
    assert trainer["resourcesPerNode"] == {"limits": {"nvidia.com/gpu": "8", "memory": "400Gi"},
                                           "requests": {"cpu": "32", "memory": "400Gi"}}
    assert not any(e["name"].startswith("PET_") for e in trainer["env"])  # the runtime injects those


def test_volumes_scheduling_and_labels_go_to_the_node_pods():
    pod = pod_patch(render_trainjob(TrainJobParams(**GPU_NODES)))
    assert pod["metadata"] == {"labels": GPU_NODES["labels"]}
    spec = pod["spec"]
    assert spec["volumes"] == [
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
        {"name": "mcm-data", "persistentVolumeClaim": {"claimName": "mcm-data"}}]
    assert spec["containers"] == [{"name": "node", "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"},
                                                                    {"name": "mcm-data", "mountPath": "/mnt/mcm"}]}]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert spec["serviceAccountName"] == "mcm-trainer"


def test_secrets_are_references_never_values():
    trainer = render_trainjob(TrainJobParams(**GPU_NODES))["spec"]["trainer"]
    env = {e["name"]: e for e in trainer["env"]}
    assert env["NCCL_DEBUG"] == {"name": "NCCL_DEBUG", "value": "WARN"}
    assert env["HF_TOKEN"] == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "mcm-hub", "key": "token"}}}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "mcm-bucket", "key": "secret-key"}
    assert "value" not in env["HF_TOKEN"] and "value" not in env["AWS_SECRET_ACCESS_KEY"]
    with pytest.raises(ValidationError, match=r"env\n.*HF_TOKEN looks like a credential; pass it as secret_env") as err:
        TrainJobParams(**{**GPU_NODES, "env": {"HF_TOKEN": "hf_abcdef"}, "secret_env": []})
    assert "hf_abcdef" not in str(err.value)  # errors never echo the value


def test_cpu_only_defaults():
    m = render_trainjob(TrainJobParams(name="mcm-tiny", image="mcm:dev", command=["mcm", "distill"]))
    assert m["metadata"] == {"name": "mcm-tiny"}  # the client's namespace, no labels
    trainer = m["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (1, 1)  # one CPU process
    assert "resourcesPerNode" not in trainer and "env" not in trainer
    assert "nvidia.com/gpu" not in json.dumps(m)
    spec = pod_patch(m)["spec"]
    assert [v["name"] for v in spec["volumes"]] == ["dshm", "mcm-data"]
    assert set(spec) == {"volumes", "containers"}
    no_pvc = pod_patch(render_trainjob(TrainJobParams(name="x", image="i", command=["mcm"], pvc_name=None)))
    assert no_pvc["spec"]["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]


@pytest.mark.parametrize("field, value", [
    ("name", "Mcm_Run"), ("name", "1mcm"), ("name", "m" * 64), ("namespace", "Team-A"),
    ("labels", {"bad key!": "x"}), ("labels", {RUN_LABEL: "not a value"}), ("runtime", "Mcm Runtime"),
    ("image", "mcm image"), ("command", []), ("command", ["torchrun", "--nproc-per-node", "8", "mcm"]),
    ("num_nodes", 0), ("gpus_per_node", -1), ("cpu", "lots"), ("memory", "64GB"), ("shm_size", "16 Gi"),
    ("env", {"PET_NNODES": "2"}), ("env", {"A=B": "1"}), ("pvc_name", "Data_PVC"), ("mount_path", "mnt/mcm"),
    ("mount_path", "/dev/shm"), ("node_selector", {"gpu": "a b"}), ("service_account", "SA"),
    ("secret_env", [{"name": "HF_TOKEN", "secret": "hub", "key": "token"}] * 2),
    ("secret_env", [{"name": "NCCL_DEBUG", "secret": "hub", "key": "token"}]),  # also in env
    ("secret_env", [{"name": "HF_TOKEN", "secret": "hub", "key": "token", "value": "hf_x"}]),
    ("tolerations", [{"key": "nvidia.com/gpu", "operator": "Exists", "value": "true"}]),
    ("tolerations", [{"operator": "Equal", "value": "x"}]),
])
def test_invalid_parameters_raise_an_error_naming_the_field(field, value):
    with pytest.raises(ValidationError) as err:
        TrainJobParams(**{**GPU_NODES, field: value})
    assert err.value.errors()[0]["loc"][0] == field
    assert field in str(err.value)


def test_unknown_parameters_are_refused():
    with pytest.raises(ValidationError, match=r"gpus\n  Extra inputs are not permitted"):
        TrainJobParams(**GPU_NODES, gpus=8)


@pytest.mark.parametrize("params", [
    GPU_NODES, dict(name="mcm-tiny", image="mcm:dev", command=["mcm", "distill", "--config", "tiny"], pvc_name=None)])
def test_the_manifest_round_trips_through_the_trainers_api_models(params):
    """The models drop fields they do not know, so an unchanged round trip means every field is one of the
    v2.3 API's, at the right place, with the right type."""
    manifest = render_trainjob(TrainJobParams(**params))
    assert TrainerV1alpha1TrainJob.from_dict(manifest).to_dict() == manifest
    assert json.loads(json.dumps(manifest)) == manifest


def test_the_round_trip_would_catch_a_field_the_api_does_not_have():
    manifest = render_trainjob(TrainJobParams(**GPU_NODES))
    manifest["spec"]["podTemplateOverrides"] = [{"targetJobs": [{"name": "node"}]}]  # Trainer <= 2.1
    assert TrainerV1alpha1TrainJob.from_dict(manifest).to_dict() != manifest
