"""The distillation as a Kubeflow Trainer v2.3 ``TrainJob``: typed parameters in, one manifest (a dict) out.

The Trainer's torch runtime (the ``ClusterTrainingRuntime`` named by ``runtime``, ``mcm-torch-distributed`` in
``k8s/``) starts ``num_nodes`` pods of its replicated job ``node``, each with one container ``node``, and
injects the rendezvous of ``torchrun`` as environment variables (Trainer's torch plugin,
``pkg/runtime/framework/plugins/torch/torch.go``)::

    PET_NNODES=num_nodes  PET_NPROC_PER_NODE=numProcPerNode  PET_NODE_RANK=<the pod's completion index>
    PET_MASTER_ADDR=<job>-node-0-0.<job>  PET_MASTER_PORT=29500

``torchrun`` reads ``PET_<ARGUMENT>`` as the default of each of its arguments, so the container runs::

    torchrun --no-python mcm distill --config modelscope --output /mnt/mcm/runs/ms --resume

with no rendezvous flags of its own: ``spec.trainer.command`` is ``["torchrun", "--no-python"]`` and
``spec.trainer.args`` is :attr:`TrainJobParams.command` (``--no-python`` runs the ``mcm`` console script
itself rather than ``python mcm``). The webhook refuses a TrainJob that sets the ``PET_*`` variables itself.

Where each setting goes (the v2.3 API, ``pkg/apis/trainer/v1alpha1/trainjob_types.go``):

    spec.trainer            image, command/args, env (values and secretKeyRefs), numNodes, numProcPerNode,
                            resourcesPerNode (nvidia.com/gpu limits = GPUs per node; cpu, memory)
    spec.runtimePatches     one patch (manager ``mcm.dev/pipeline``) of the replicated job ``node``'s pod:
                            volumes (the data PVC, /dev/shm as a memory emptyDir), the container ``node``'s
                            volumeMounts, nodeSelector, tolerations, serviceAccountName, the pod labels

Environment variables go in ``spec.trainer.env``: a runtime patch may not set env on the container ``node``.
Credentials (``HF_TOKEN``, bucket keys) are only ever references to Kubernetes secrets (:class:`SecretEnv`).

    params = TrainJobParams(name="mcm-ms-3f2a", image="registry/mcm:1.0", num_nodes=4, gpus_per_node=8,
                            command=["mcm", "distill", "--config", "modelscope", "--output", "/mnt/mcm/runs/ms",
                                     "--resume"],
                            secret_env=[SecretEnv(name="HF_TOKEN", secret="hf", key="token")])
    manifest = render_trainjob(params)   # then pipelines.kube.run_trainjob(client, manifest)
"""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
API_VERSION = f"{GROUP}/{VERSION}"
RUN_LABEL = "mcm.dev/pipeline-run"  # the pipeline run that owns a job (its exit handler deletes by it)
NODE = "node"  # the torch runtime's replicated job and container (the Trainer's constants.Node)
PATCH_MANAGER = "mcm.dev/pipeline"  # owner of our runtime patch (patches are keyed by manager)
TORCHRUN = ("torchrun", "--no-python")
# Set by the Trainer's torch plugin; its webhook refuses a TrainJob whose env sets them (TorchRunReservedEnvNames).
TORCHRUN_ENV = frozenset({"PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"})
SHM_VOLUME, DATA_VOLUME, SHM_PATH = "dshm", "mcm-data", "/dev/shm"
GPU_RESOURCE = "nvidia.com/gpu"

DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # TrainJob names (the Trainer's CEL rule), <= 63
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # namespaces, <= 63
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # <= 253
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")  # a label key's name part or value, <= 63
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
# Parts of an env name that mark a credential, which must come from a secret (TOKENIZERS_PARALLELISM is fine).
CREDENTIAL_PARTS = {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIALS", "APIKEY"}


def _check_label_key(key: str, field: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix))) or len(name) > 63 \
            or not LABEL_NAME.match(name):
        raise ValueError(f"{field}: key {key!r} is not a Kubernetes label key ([prefix/]name, name <= 63 of "
                         "[-A-Za-z0-9_.], starting and ending alphanumeric)")


def _check_label_value(value: str, field: str) -> None:
    if value and (len(value) > 63 or not LABEL_NAME.match(value)):
        raise ValueError(f"{field}: value {value!r} is not a Kubernetes label value (<= 63 of [-A-Za-z0-9_.], "
                         "starting and ending alphanumeric)")


def _check_env_name(name: str, field: str) -> None:
    if not ENV_NAME.match(name):
        raise ValueError(f"{field}: {name!r} is not an environment variable name ([-._a-zA-Z][-._a-zA-Z0-9]*)")
    if name in TORCHRUN_ENV:
        raise ValueError(f"{field}: {name} is set by the Trainer's torch runtime (reserved: "
                         f"{', '.join(sorted(TORCHRUN_ENV))})")


class SecretEnv(BaseModel):
    """One environment variable read from a Kubernetes secret (``valueFrom.secretKeyRef``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(description="the variable's name in the container, e.g. HF_TOKEN")
    secret: str = Field(description="the Secret's name, in the TrainJob's namespace")
    key: str = Field(description="the key inside the Secret")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        _check_env_name(v, "secret_env.name")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if len(v) > 253 or not DNS1123_SUBDOMAIN.match(v):
            raise ValueError(f"secret_env.secret: {v!r} is not a Secret name (DNS-1123 subdomain)")
        return v

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        if not re.match(r"^[-._a-zA-Z0-9]+$", v) or len(v) > 253:
            raise ValueError(f"secret_env.key: {v!r} is not a Secret key ([-._a-zA-Z0-9]+)")
        return v


class Toleration(BaseModel):
    """A pod toleration (``spec.tolerations[]``), e.g. ``Toleration(key="nvidia.com/gpu", operator="Exists",
    effect="NoSchedule")`` for GPU nodes tainted by the NVIDIA GPU operator."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    key: Optional[str] = Field(None, description="taint key; None with operator Exists tolerates every taint")
    operator: Literal["Exists", "Equal"] = Field("Equal", description="Exists (any value) or Equal (value)")
    value: Optional[str] = Field(None, description="taint value for operator Equal")
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = Field(
        None, description="the taint effect to tolerate; None: all effects")
    toleration_seconds: Optional[int] = Field(None, ge=0, description="NoExecute only: how long the pod stays")

    @model_validator(mode="after")
    def _combination(self) -> "Toleration":
        if self.operator == "Exists" and self.value is not None:
            raise ValueError(f"tolerations: operator Exists takes no value (got value={self.value!r})")
        if self.key is None and self.operator != "Exists":
            raise ValueError("tolerations: a toleration without a key must have operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(f"tolerations: toleration_seconds needs effect NoExecute (got effect={self.effect})")
        return self

    def render(self) -> dict:
        out = {"key": self.key, "operator": self.operator, "value": self.value, "effect": self.effect,
               "tolerationSeconds": self.toleration_seconds}
        return {k: v for k, v in out.items() if v is not None}


class TrainJobParams(BaseModel):
    """Everything the distillation's TrainJob needs; :func:`render_trainjob` turns it into the manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(description="the TrainJob's name: DNS-1035 label (lowercase, starts with a letter), <= 63")
    namespace: Optional[str] = Field(
        None, description="the TrainJob's namespace; None: the client's (in a pipeline, the step pod's namespace)")
    labels: dict[str, str] = Field(
        default_factory=dict, description=f"labels of the TrainJob and its pods; the pipeline sets {RUN_LABEL}")
    runtime: str = Field("mcm-torch-distributed", description="the ClusterTrainingRuntime to run on")
    runtime_kind: Literal["ClusterTrainingRuntime", "TrainingRuntime"] = Field(
        "ClusterTrainingRuntime", description="kind of the runtime (a TrainingRuntime lives in the namespace)")
    image: str = Field(description="the training image (mcm installed, with the `mcm` console script)")
    command: list[str] = Field(description="the program torchrun starts on every process, e.g. "
                                           "['mcm', 'distill', '--config', 'modelscope', '--output', DIR, '--resume']")
    num_nodes: int = Field(1, ge=1, description="pods (torchrun agents); PET_NNODES")
    gpus_per_node: int = Field(0, ge=0, description="nvidia.com/gpu per pod, one process each; 0: one CPU process")
    cpu: Optional[str] = Field(None, description="CPU request per pod (a quantity: '8', '500m'); None: the runtime's")
    memory: Optional[str] = Field(None, description="memory request and limit per pod ('64Gi'); None: the runtime's")
    env: dict[str, str] = Field(default_factory=dict, description="plain environment variables (no credentials)")
    secret_env: list[SecretEnv] = Field(default_factory=list, description="variables read from Kubernetes secrets")
    pvc_name: Optional[str] = Field("mcm-data", description="the PersistentVolumeClaim holding data and run folders "
                                                            "(mounted on every node); None: no volume")
    mount_path: str = Field("/mnt/mcm", description="where the PVC is mounted")
    shm_size: str = Field("16Gi", description="size of /dev/shm (a memory emptyDir: DataLoader workers, NCCL)")
    node_selector: dict[str, str] = Field(default_factory=dict, description="pod nodeSelector")
    tolerations: list[Toleration] = Field(default_factory=list, description="pod tolerations")
    service_account: Optional[str] = Field(None, description="the pods' service account; None: the namespace's")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if len(v) > 63 or not DNS1035_LABEL.match(v):
            raise ValueError(f"name: {v!r} must be a DNS-1035 label: <= 63 characters of [a-z0-9-], starting with "
                             "a letter and ending alphanumeric")
        return v

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and (len(v) > 63 or not DNS1123_LABEL.match(v)):
            raise ValueError(f"namespace: {v!r} is not a namespace name (DNS-1123 label)")
        return v

    @field_validator("labels", "node_selector")
    @classmethod
    def _labels(cls, v: dict[str, str], info) -> dict[str, str]:
        for key, value in v.items():
            _check_label_key(key, info.field_name)
            _check_label_value(value, info.field_name)
        return v

    @field_validator("runtime", "service_account", "pvc_name")
    @classmethod
    def _object_name(cls, v: Optional[str], info) -> Optional[str]:
        if v is not None and (len(v) > 253 or not DNS1123_SUBDOMAIN.match(v)):
            raise ValueError(f"{info.field_name}: {v!r} is not a Kubernetes object name (DNS-1123 subdomain)")
        return v

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError(f"image: {v!r} is not an image reference (empty or has whitespace)")
        return v

    @field_validator("command")
    @classmethod
    def _command(cls, v: list[str]) -> list[str]:
        if not v or not v[0]:
            raise ValueError("command: empty; give the program torchrun starts, e.g. ['mcm', 'distill', ...]")
        if v[0].rsplit("/", 1)[-1] == "torchrun" or "torch.distributed.run" in v[:3]:
            raise ValueError(f"command: starts with torchrun ({' '.join(v[:3])} ...); give only the program: the "
                             f"TrainJob runs it as `{' '.join(TORCHRUN)} COMMAND`")
        return v

    @field_validator("cpu", "memory", "shm_size")
    @classmethod
    def _quantity(cls, v: Optional[str], info) -> Optional[str]:
        if v is not None and not QUANTITY.match(v):
            raise ValueError(f"{info.field_name}: {v!r} is not a Kubernetes quantity (e.g. '8', '500m', '64Gi')")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            _check_env_name(name, "env")
            if CREDENTIAL_PARTS & set(name.upper().split("_")):
                raise ValueError(f"env: {name} looks like a credential; pass it as secret_env "
                                 "(name, secret, key) so that no value is written into the manifest")
        return v

    @field_validator("mount_path")
    @classmethod
    def _mount_path(cls, v: str) -> str:
        if not v.startswith("/") or ":" in v or v.rstrip("/") in ("", SHM_PATH):
            raise ValueError(f"mount_path: {v!r} must be an absolute path without ':', other than / and {SHM_PATH}")
        return v

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, v: list[SecretEnv], info) -> list[SecretEnv]:
        names = [s.name for s in v]
        twice = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(info.data.get("env", {}))))
        if twice:
            raise ValueError(f"secret_env: {', '.join(twice)} set more than once (in env or secret_env)")
        return v


def render_trainjob(params: TrainJobParams) -> dict:
    """The ``TrainJob`` manifest (``trainer.kubeflow.org/v1alpha1``) of ``params``: a plain dict, JSON-ready."""
    p = params
    metadata = {"name": p.name, **({"namespace": p.namespace} if p.namespace else {}),
                **({"labels": dict(p.labels)} if p.labels else {})}
    trainer = {
        "image": p.image,
        "command": list(TORCHRUN),
        "args": list(p.command),
        "numNodes": p.num_nodes,
        "numProcPerNode": max(p.gpus_per_node, 1),  # one process per GPU; one CPU process without GPUs
    }
    env = [{"name": k, "value": v} for k, v in p.env.items()]
    env += [{"name": s.name, "valueFrom": {"secretKeyRef": {"name": s.secret, "key": s.key}}} for s in p.secret_env]
    if env:
        trainer["env"] = env
    resources = _resources(p)
    if resources:
        trainer["resourcesPerNode"] = resources
    spec = {
        "runtimeRef": {"name": p.runtime, "apiGroup": GROUP, "kind": p.runtime_kind},
        "trainer": trainer,
        "runtimePatches": [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": NODE, "template": {"spec": {"template": _pod_patch(p)}}}],
        }}}}],
    }
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


def _resources(p: TrainJobParams) -> dict:
    """``resourcesPerNode``: GPUs as limits (extended resources: requests follow), cpu as a request (no CPU
    throttling), memory as request and limit (the pod's memory is what the node sets aside)."""
    requests, limits = {}, {}
    if p.gpus_per_node:
        limits[GPU_RESOURCE] = str(p.gpus_per_node)
    if p.cpu:
        requests["cpu"] = p.cpu
    if p.memory:
        requests["memory"] = limits["memory"] = p.memory
    return {k: v for k, v in (("requests", requests), ("limits", limits)) if v}


def _pod_patch(p: TrainJobParams) -> dict:
    """The pod template patch of the replicated job ``node``: volumes, mounts, scheduling, labels."""
    volumes = [{"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": p.shm_size}}]
    mounts = [{"name": SHM_VOLUME, "mountPath": SHM_PATH}]
    if p.pvc_name:
        volumes.append({"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": p.pvc_name}})
        mounts.append({"name": DATA_VOLUME, "mountPath": p.mount_path})
    spec = {"volumes": volumes, "containers": [{"name": NODE, "volumeMounts": mounts}]}
    if p.node_selector:
        spec["nodeSelector"] = dict(p.node_selector)
    if p.tolerations:
        spec["tolerations"] = [t.render() for t in p.tolerations]
    if p.service_account:
        spec["serviceAccountName"] = p.service_account
    return {**({"metadata": {"labels": dict(p.labels)}} if p.labels else {}), "spec": spec}
