"""Offline validation of Kubernetes objects, for the deploy tests.

Built-in kinds go to kubernetes-validate (strict Kubernetes 1.37 schemas). It knows no custom resource: for one it
raises SchemaNotFoundError (its CLI only warns and exits 0), so custom resources are validated here with jsonschema
against the schemas kept in k8s/crds (see its README), made strict like `kubectl apply`'s server-side field
validation: an object schema with `properties` rejects other fields unless it preserves unknown fields.
"""

import functools
import importlib.resources
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "k8s" / "crds"
KUBERNETES_VERSION = "1.37.0"
K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = {"$ref": f"{K8S_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}

# (apiVersion, kind) -> schema file in k8s/crds: JSON schemas (.json) or a CRD's openAPIV3Schema (.yaml).
CUSTOM = {
    ("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"): "trainer.kubeflow.org_clustertrainingruntimes.json",
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): "trainer.kubeflow.org_trainjobs.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("serving.kserve.io/v1beta1", "InferenceService"): "serving.kserve.io_inferenceservices.yaml",
}
CLUSTER_SCOPED = {"ClusterTrainingRuntime", "ClusterRole", "ClusterRoleBinding", "Namespace",
                  "CustomResourceDefinition", "StorageClass", "PersistentVolume"}
SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def strict(schema):
    """A copy of `schema` where every object schema with `properties` forbids other properties."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: ({name: strict(sub) for name, sub in value.items()} if key in SCHEMA_MAPS else strict(value))
           for key, value in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=None)
def registry() -> Registry:
    """The strict Kubernetes definitions, under the id the custom schemas refer to."""
    path = importlib.resources.files("kubernetes_validate").joinpath(
        "kubernetes-json-schema", f"v{KUBERNETES_VERSION}-local-strict", "_definitions.json")
    return Registry().with_resource(K8S_DEFINITIONS, Resource.from_contents(json.loads(path.read_text())))


def load_schema(api_version: str, kind: str) -> dict:
    """The strict JSON schema of a custom kind (KeyError: a kind k8s/crds does not know)."""
    path = CRDS / CUSTOM[(api_version, kind)]
    if path.suffix == ".json":
        schema = json.loads(path.read_text())
    else:  # a CRD's openAPIV3Schema: pin apiVersion and kind, check metadata as the API server does
        document = yaml.safe_load(path.read_text())
        schema = dict(document["openAPIV3Schema"])
        schema["properties"] = {**schema["properties"], "apiVersion": {"const": api_version},
                                "kind": {"const": kind}, "metadata": OBJECT_META}
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return strict(schema)


@functools.lru_cache(maxsize=None)
def custom_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(api_version, kind), registry=registry())


def validate(obj: dict) -> str:
    """Validate one object; returns "custom" or "builtin". Raises on any invalid or unknown field, and on a kind
    neither kubernetes-validate nor k8s/crds knows (SchemaNotFoundError)."""
    key = (obj["apiVersion"], obj["kind"])
    if key in CUSTOM:
        error = jsonschema.exceptions.best_match(custom_validator(*key).iter_errors(obj))
        if error is not None:  # the deepest error (inside anyOf/oneOf branches), named by its path
            path = ".".join(map(str, error.absolute_path)) or "<root>"
            raise jsonschema.ValidationError(f"{obj['kind']} {obj['metadata'].get('name')}: {path}: "
                                             f"{error.message[:300]}")
        return "custom"
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    return "builtin"


def documents(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
