"""The serving image and its Kubernetes manifests, checked offline: hadolint on the Dockerfile, the manifests
against the Kubernetes API schemas (kubernetes-validate, strict), and the properties the deployment promises
(GPU, readiness from Triton's health endpoint, metrics scraped, nothing exposed without the gateway)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s" / "serve"
CORE = ("deployment.yaml", "service.yaml", "networkpolicy.yaml", "pvc.yaml")


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} not found: it comes with the dev extra (pip install -e '.[dev]')"
    return found


def load(name: str) -> dict:
    return yaml.safe_load((K8S / name).read_text())


def test_dockerfile_passes_hadolint_and_pins_its_base():
    dockerfile = ROOT / "images" / "serve" / "Dockerfile"
    result = subprocess.run([tool("hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert "ARG TRITON_RELEASE=25.01" in text and "tritonserver:${TRITON_RELEASE}-py3" in text
    assert "torch==2.14.1 torchvision==0.29.1" in text  # pinned together, as everywhere
    for script in ("build_engines.sh", "entrypoint.sh"):
        assert subprocess.run(["bash", "-n", str(ROOT / "images" / "serve" / script)]).returncode == 0


@pytest.mark.parametrize("name", CORE)
def test_manifests_match_the_kubernetes_schemas(name):
    import kubernetes_validate

    kubernetes_validate.validate(load(name), "1.37.0", strict=True)  # raises on any unknown or invalid field


def test_deployment_promises():
    deployment = load("deployment.yaml")
    pod = deployment["spec"]["template"]
    triton = pod["spec"]["containers"][0]
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(
        next(p["containerPort"] for p in triton["ports"] if p["name"] == "metrics"))
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "build_engines.sh" in " ".join(pod["spec"]["initContainers"][0]["command"])
    assert load("service.yaml")["spec"]["type"] == "ClusterIP"
    policy = load("networkpolicy.yaml")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    inference = [rule["from"] for rule in policy["ingress"] if {"protocol": "TCP", "port": 8000} in rule["ports"]]
    # inference only through the authenticating gateway, or from the pipeline's smoke step in the same namespace
    assert inference == [[{"namespaceSelector": {"matchLabels": {"mcm.io/gateway": "true"}}}],
                         [{"podSelector": {"matchLabels": {"mcm.io/inference-client": "true"}}}]]
    kustomization = load("kustomization.yaml")
    assert set(kustomization["resources"]) == set(CORE)


def test_kserve_alternative_runs_the_same_image():
    service = load("inferenceservice.yaml")
    assert service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService"
    container = service["spec"]["predictor"]["containers"][0]
    assert container["image"] == load("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
