"""The Kubernetes manifests of k8s/, checked offline: every manifest and every object of the built overlays against
the Kubernetes 1.37 schemas (kubernetes-validate, strict) or, for custom resources, the schemas of k8s/crds (strict
too; see tests/deploy/k8s_schemas.py), and what the deployment promises the pipeline: the TrainJob permissions, the
training runtime with its shared memory and data volume, GPU scheduling in production only, the images of
images/images.yaml, metrics scraped from the serving Service's metrics port."""

import copy
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from . import k8s_schemas
from .k8s_schemas import CLUSTER_SCOPED, documents, validate
from .test_serving_manifests import tool

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("local", "production")
NAMESPACE = "kubeflow-user-example-com"  # params.yaml cluster.namespace
RUNTIME = "mcm-torch-distributed"
GPU_POOL = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}  # params.yaml cluster.node_selector
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
IMAGES = yaml.safe_load((ROOT / "images" / "images.yaml").read_text())
# Whole manifests: not the CRD schemas, not kustomize's own files, not the overlays' patches (partial objects,
# checked in the built output).
MANIFESTS = sorted(
    path for path in K8S.rglob("*.yaml")
    if path.parts[len(K8S.parts)] not in ("crds", "overlays", "transformers") and path.name != "kustomization.yaml")


def image_ref(step: str) -> str:
    return f"{IMAGES['registry']}/{IMAGES['images'][step]['name']}:{IMAGES['tag']}"


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict]]:
    """`kubectl kustomize` of the base and of each overlay: name -> objects."""
    out = {}
    for name, path in [("base", K8S / "base"), *[(o, K8S / "overlays" / o) for o in OVERLAYS]]:
        result = subprocess.run([tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"kubectl kustomize {path}: {result.stderr}"
        out[name] = documents(result.stdout)
    return out


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def node_pod(runtime: dict) -> dict:
    """The pod spec of the runtime's `node` replicated job (the one the Trainer runs torchrun in)."""
    job = next(j for j in runtime["spec"]["template"]["spec"]["replicatedJobs"] if j["name"] == "node")
    assert job["template"]["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    return job["template"]["spec"]["template"]["spec"]


def by_name(items: list[dict], name: str) -> dict:
    return next(item for item in items if item["name"] == name)


def test_manifests_are_found():
    names = {str(p.relative_to(K8S)) for p in MANIFESTS}
    assert {"base/runtime.yaml", "base/rbac.yaml", "base/pvc.yaml", "base/servicemonitor.yaml",
            "serve/deployment.yaml", "serve/inferenceservice.yaml", "examples/trainjob-distill.yaml"} <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates(path):
    objects = documents(path.read_text())
    assert objects
    for obj in objects:
        validate(obj)  # raises on an invalid or unknown field, and on a kind no schema knows


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_every_object_validates(built, overlay):
    objects = built[overlay]
    kinds = {}
    for obj in objects:
        kinds[obj["kind"]] = validate(obj)
        namespace = obj["metadata"].get("namespace")
        if obj["kind"] in CLUSTER_SCOPED:
            assert namespace is None, f"{obj['kind']}/{obj['metadata']['name']} is cluster-scoped"
        else:
            assert namespace == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']} in {namespace}"
    assert kinds == {"ServiceAccount": "builtin", "Role": "builtin", "RoleBinding": "builtin",
                     "ClusterRole": "builtin", "ClusterRoleBinding": "builtin", "PersistentVolumeClaim": "builtin",
                     "Deployment": "builtin", "Service": "builtin", "NetworkPolicy": "builtin",
                     "ServiceMonitor": "custom", "ClusterTrainingRuntime": "custom"}


def test_unknown_kinds_and_fields_are_rejected(built):
    """kubernetes-validate does not pass an unknown kind silently (its CLI would, with a warning): validate raises.
    The strict custom schemas reject what the cluster would: the Trainer 2.3 runtime has no
    mlPolicy.torch.numProcPerNode (removed in 2.2), a typo in a ServiceMonitor endpoint fails."""
    cli = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", k8s_schemas.KUBERNETES_VERSION,
                          str(K8S / "base" / "servicemonitor.yaml")], capture_output=True, text=True)
    assert cli.returncode == 0 and cli.stdout.startswith("WARN")  # why the CLI is not used: unknown kind, exit 0
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
        validate(unknown)
    runtime = copy.deepcopy(find(built["production"], "ClusterTrainingRuntime", RUNTIME))
    runtime["spec"]["mlPolicy"]["torch"]["numProcPerNode"] = "auto"
    with pytest.raises(jsonschema.ValidationError, match="numProcPerNode"):
        validate(runtime)
    runtime = copy.deepcopy(find(built["production"], "ClusterTrainingRuntime", RUNTIME))
    node_pod(runtime)["containers"][0]["imagePullPolicyy"] = "Always"  # inside the embedded Kubernetes PodSpec
    with pytest.raises(jsonschema.ValidationError, match="imagePullPolicyy"):
        validate(runtime)
    monitor = copy.deepcopy(find(built["base"], "ServiceMonitor", "mcm-serve"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate(monitor)


def test_pipeline_account_may_run_and_watch_trainjobs(built):
    objects = built["base"]
    rules = find(objects, "Role", "mcm-pipeline")["rules"]

    def verbs(group: str, resource: str) -> set[str]:
        return {v for r in rules if group in r["apiGroups"] and resource in r["resources"] for v in r["verbs"]}

    assert {"create", "watch", "delete", "get", "list", "patch"} <= verbs("trainer.kubeflow.org", "trainjobs")
    for resource in ("pods", "pods/log"):
        assert {"get", "list", "watch"} <= verbs("", resource)
    binding = find(objects, "RoleBinding", "mcm-pipeline")
    assert binding["roleRef"]["name"] == "mcm-pipeline"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mcm-pipeline"}]
    find(objects, "ServiceAccount", "mcm-pipeline")
    cluster_rules = find(objects, "ClusterRole", "mcm-pipeline-runtimes")["rules"]
    assert cluster_rules == [{"apiGroups": ["trainer.kubeflow.org"], "resources": ["clustertrainingruntimes"],
                              "verbs": ["get", "list", "watch"]}]
    for overlay in OVERLAYS:  # the cluster binding names the account in the overlay's namespace
        subjects = find(built[overlay], "ClusterRoleBinding", "mcm-pipeline-runtimes")["subjects"]
        assert subjects == [{"kind": "ServiceAccount", "name": "mcm-pipeline", "namespace": NAMESPACE}]


def test_training_runtime_mounts_shared_memory_and_the_data_volume(built):
    runtime = find(built["base"], "ClusterTrainingRuntime", RUNTIME)
    assert runtime["apiVersion"] == "trainer.kubeflow.org/v1alpha1"
    assert runtime["spec"]["mlPolicy"]["torch"] == {}  # Trainer 2.3: nproc from the GPU limit or the TrainJob
    pod = node_pod(runtime)
    node = by_name(pod["containers"], "node")
    assert node["image"] == image_ref("distill") and node["command"] == ["torchrun"]
    mounts = {m["mountPath"]: m["name"] for m in node["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    assert volumes[mounts["/mnt/mcm"]]["persistentVolumeClaim"]["claimName"] == "mcm-data"
    assert pod["securityContext"]["runAsNonRoot"] is True
    pvc = find(built["base"], "PersistentVolumeClaim", "mcm-data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    local_pod = node_pod(find(built["local"], "ClusterTrainingRuntime", RUNTIME))
    assert by_name(local_pod["volumes"], "dshm")["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}


def test_production_schedules_on_the_gpu_pool_and_local_uses_no_gpu(built):
    production, local = built["production"], built["local"]
    pod = node_pod(find(production, "ClusterTrainingRuntime", RUNTIME))
    assert pod["nodeSelector"] == GPU_POOL and GPU_TOLERATION in pod["tolerations"]
    assert by_name(pod["containers"], "node")["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert by_name(pod["volumes"], "mcm-data") == {"name": "mcm-data",
                                                   "persistentVolumeClaim": {"claimName": "mcm-data"}}
    serve = find(production, "Deployment", "mcm-serve")
    assert serve["spec"]["replicas"] >= 2
    assert serve["spec"]["template"]["spec"]["nodeSelector"] == GPU_POOL
    assert GPU_TOLERATION in serve["spec"]["template"]["spec"]["tolerations"]
    for name in ("mcm-data", "mcm-models"):
        spec = find(production, "PersistentVolumeClaim", name)["spec"]
        assert spec["accessModes"] == ["ReadWriteMany"] and spec["storageClassName"].endswith("-rwx")
    assert find(production, "PersistentVolumeClaim", "mcm-data")["spec"]["resources"]["requests"]["storage"] \
        == "2560Gi"
    # local: one node without GPUs, small volumes on the standard class
    assert "nvidia.com/gpu" not in yaml.safe_dump_all(local)
    assert "nodeSelector" not in yaml.safe_dump_all(local) and "tolerations" not in yaml.safe_dump_all(local)
    for name in ("mcm-data", "mcm-models"):
        spec = find(local, "PersistentVolumeClaim", name)["spec"]
        assert spec["storageClassName"] == "standard" and spec["accessModes"] == ["ReadWriteOnce"]


def test_built_images_are_those_of_images_yaml(built):
    for overlay in ("base", *OVERLAYS):
        images = set()
        for obj in built[overlay]:
            text = yaml.safe_dump(obj)
            images |= {line.split("image:")[1].strip() for line in text.splitlines() if "image:" in line}
        assert images == {image_ref("distill"), image_ref("serve")}, overlay
    example = yaml.safe_load((K8S / "examples" / "trainjob-distill.yaml").read_text())
    assert example["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                             "name": RUNTIME}
    assert example["spec"]["trainer"]["image"] == image_ref("distill")
    assert example["spec"]["trainer"]["command"] == ["torchrun"]


def test_service_monitor_scrapes_the_metrics_port(built):
    objects = built["base"]
    monitor = find(objects, "ServiceMonitor", "mcm-serve")
    service = find(objects, "Service", "mcm-serve")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    port = by_name(service["spec"]["ports"], endpoint["port"])
    assert endpoint["port"] == "metrics" and port["port"] == 8002 and endpoint["path"] == "/metrics"
    triton = by_name(find(objects, "Deployment", "mcm-serve")["spec"]["template"]["spec"]["containers"], "triton")
    assert by_name(triton["ports"], port["targetPort"])["containerPort"] == 8002
    policy = find(objects, "NetworkPolicy", "mcm-serve")["spec"]["ingress"]
    scrape = [rule for rule in policy if {"protocol": "TCP", "port": 8002} in rule["ports"]]
    assert scrape and scrape[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


def test_crd_schemas_are_kept_current_and_the_partial_ones_listed():
    from importlib import util

    spec = util.spec_from_file_location("crds_generate", K8S / "crds" / "generate.py")
    generate = util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert generate.main(["--check"]) == 0  # the Trainer schemas are those of kubeflow-trainer-api 2.3.0
    readme = (K8S / "crds" / "README.md").read_text()
    for _, kind in k8s_schemas.CUSTOM:
        assert f"| {kind} |" in readme
    assert "Unvalidated kinds: none." in readme
    partial = {kind for (api, kind) in k8s_schemas.CUSTOM  # spec left open: only the top level is checked
               if k8s_schemas.load_schema(api, kind)["properties"]["spec"].get("x-kubernetes-preserve-unknown-fields")}
    assert partial == {"InferenceService"}
    assert "Validated in part: InferenceService" in readme


def test_manifests_agree_with_params_yaml(built):
    """params.yaml `cluster` (what the pipeline submits) names what the manifests deploy."""
    cluster = yaml.safe_load((ROOT / "params.yaml").read_text())["cluster"]
    assert cluster["namespace"] == NAMESPACE
    base, production = built["base"], built["production"]
    find(base, "ServiceAccount", cluster["service_account"])
    find(base, "PersistentVolumeClaim", cluster["pvc"])
    find(base, "PersistentVolumeClaim", cluster["models_pvc"])
    find(base, "Deployment", cluster["serve_deployment"])
    pod = node_pod(find(base, "ClusterTrainingRuntime", cluster["trainer"]["runtime"]))
    mounts = {m["name"]: m["mountPath"] for m in by_name(pod["containers"], "node")["volumeMounts"]}
    claim = next(v["name"] for v in pod["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName")
                 == cluster["pvc"])
    assert mounts[claim] == cluster["mount_path"]
    assert by_name(pod["volumes"], "dshm")["emptyDir"]["sizeLimit"] == cluster["shm_size"]
    production_pod = node_pod(find(production, "ClusterTrainingRuntime", cluster["trainer"]["runtime"]))
    assert production_pod["nodeSelector"] == cluster["node_selector"] == GPU_POOL
    assert production_pod["tolerations"] == cluster["tolerations"]
    assert by_name(production_pod["containers"], "node")["resources"]["limits"][cluster["gpu_resource"]] \
        == cluster["trainer"]["gpus_per_node"]
