"""Run a TrainJob from a pipeline step: create it (or attach to it), follow its conditions, clean up.

A small client over the official ``kubernetes`` client's ``CustomObjectsApi``; it works in a pod (the step's
service account) and from a kubeconfig, and against any host (:meth:`TrainJobClient.from_host`, for tests).

The step that distills::

    client = TrainJobClient.from_environment()
    run_trainjob(client, render_trainjob(params))          # returns when Complete; TrainJobFailed when Failed

The pipeline's exit handler, when the run failed or was cancelled (no job may keep its GPUs)::

    TrainJobClient.from_environment().delete_by_label(namespace, f"{RUN_LABEL}={run_id}")

Retries: a retried step finds its job by name. A Failed job is deleted (and gone) before it is created again;
the training command's ``--resume`` continues from the newest checkpoint of the run folder on the PVC. A job
that is still running, or already Complete, is attached to, not restarted.

States (Trainer v2.3 ``TrainJob.status``, ``pkg/apis/trainer/v1alpha1/trainjob_types.go``): the conditions are
``Suspended``, ``Complete`` and ``Failed`` (reasons such as ``DeadlineExceeded`` or the JobSet's, with a
message); Trainer v2.0-2.1 also set ``Created``. There is no ``Running`` condition: running is read from
``status.jobsStatus`` (a child Job with ready pods). Each change of state is logged as one line::

    trainjob mcm-ms-3f2a: Pending
    trainjob mcm-ms-3f2a: Running
    trainjob mcm-ms-3f2a: Failed (FailedJobs: jobset failed due to node-0 ...)
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from pipelines.trainjob import GROUP, PLURAL, RUN_LABEL, VERSION

Log = Callable[[str], None]
TRANSIENT_STATUS = (429, 500, 502, 503, 504)  # API server hiccups: keep polling
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _print(line: str) -> None:
    print(line, flush=True)


class TrainJobFailed(RuntimeError):
    """The TrainJob ended Failed (or vanished before it finished); the message carries the job's condition."""

    def __init__(self, name: str, reason: str, message: str):
        super().__init__(f"trainjob {name} failed: {reason}: {message}")
        self.name, self.reason, self.message = name, reason, message


class TrainJobConflict(RuntimeError):
    """A TrainJob of that name exists and belongs to another pipeline run: it is neither attached to nor
    deleted."""


class JobState(NamedTuple):
    """What a TrainJob is doing: ``state`` (Failed, Complete, Suspended, Deleting, Running, Starting, Created or
    Pending) and the deciding condition's ``reason`` and ``message`` ("" when none)."""

    state: str
    reason: str = ""
    message: str = ""

    def __str__(self) -> str:
        detail = ": ".join(x for x in (self.reason, self.message) if x)
        return f"{self.state} ({detail})" if detail else self.state


def job_state(job: dict) -> JobState:
    """The :class:`JobState` of a TrainJob object (its ``status.conditions`` and ``status.jobsStatus``)."""
    status = job.get("status") or {}
    true = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    for kind in ("Failed", "Complete", "Suspended"):
        if kind in true:
            return JobState(kind, true[kind].get("reason", ""), true[kind].get("message", ""))
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return JobState("Deleting")
    jobs = status.get("jobsStatus") or []
    if any((j.get("ready") or 0) > 0 for j in jobs):
        return JobState("Running")
    if any((j.get("active") or 0) > 0 for j in jobs):
        return JobState("Starting")  # pods scheduled or pending (pulling the image, waiting for GPUs)
    return JobState("Created" if "Created" in true else "Pending")


class TrainJobClient:
    """TrainJobs (``trainer.kubeflow.org/v1alpha1``) through ``CustomObjectsApi``.

    Args:
        api_client: a configured ``kubernetes.client.ApiClient``.
        namespace: the namespace of manifests that name none (in a pod: the pod's own).
        poll_s: seconds between two reads of a job's status (``wait`` and waiting for a deletion).
    """

    def __init__(self, api_client: k8s.ApiClient, namespace: str = "default", poll_s: float = 10.0):
        if poll_s <= 0:
            raise ValueError(f"poll_s={poll_s} must be > 0")
        self.api = k8s.CustomObjectsApi(api_client)
        self.namespace, self.poll_s = namespace, poll_s

    @classmethod
    def from_host(cls, host: str, namespace: str = "default", poll_s: float = 10.0) -> "TrainJobClient":
        """A client of the API server at ``host`` (e.g. ``http://127.0.0.1:8001``: ``kubectl proxy``, tests)."""
        return cls(k8s.ApiClient(k8s.Configuration(host=host)), namespace, poll_s)

    @classmethod
    def from_environment(cls, poll_s: float = 10.0) -> "TrainJobClient":
        """In a pod: its service account and namespace; elsewhere: the kubeconfig's current context."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
        except k8s_config.ConfigException:
            # KUBECONFIG is read now: the kubernetes package reads it once, at import, as its default
            kubeconfig = os.environ.get("KUBECONFIG") or None
            k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
            _, context = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
            namespace = context["context"].get("namespace", "default")
        return cls(k8s.ApiClient(configuration), namespace, poll_s)

    def _args(self, namespace: Optional[str]) -> dict:
        return {"group": GROUP, "version": VERSION, "plural": PLURAL, "namespace": namespace or self.namespace}

    def get(self, name: str, namespace: Optional[str] = None) -> Optional[dict]:
        """The job object, or None when there is none."""
        try:
            return self.api.get_namespaced_custom_object(name=name, **self._args(namespace))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def create(self, manifest: dict, log: Log = _print) -> dict:
        """Create the job, or attach to the job of that name: a Failed one is deleted, waited for until it is
        gone, and created again; one being deleted is waited for and created again; any other is returned as
        it is (still running, or Complete). A job of another pipeline run (another ``mcm.dev/pipeline-run``
        label) is left alone: :class:`TrainJobConflict`."""
        name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace")
        while True:
            try:
                job = self.api.create_namespaced_custom_object(body=manifest, field_validation="Strict",
                                                               **self._args(namespace))
                log(f"trainjob {name}: created")
                return job
            except ApiException as err:
                if err.status != 409:
                    raise
            existing = self.get(name, namespace)
            if existing is None:  # deleted between our create and get: create again
                continue
            ours, theirs = (_run_of(obj) for obj in (manifest, existing))
            if ours != theirs:
                raise TrainJobConflict(f"trainjob {name} exists and belongs to {RUN_LABEL}={theirs}, not {ours}: "
                                       "give this run's job another name, or delete that one")
            state = job_state(existing)
            if state.state not in ("Failed", "Deleting"):
                log(f"trainjob {name}: exists ({state}), attaching to it")
                return existing
            log(f"trainjob {name}: exists ({state}), deleting it to create it again")
            self.delete(name, namespace)
            self.wait_gone(name, namespace)

    def wait(self, name: str, namespace: Optional[str] = None, log: Log = _print, poll_s: Optional[float] = None,
             timeout_s: Optional[float] = None) -> dict:
        """Poll the job until it is Complete (returns it) or Failed (raises :class:`TrainJobFailed`), logging
        each change of state as one line. ``timeout_s``: raise ``TimeoutError`` after that many seconds."""
        poll_s = poll_s or self.poll_s
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last = None
        while True:
            try:
                job = self.get(name, namespace)
            except ApiException as err:
                if err.status not in TRANSIENT_STATUS:
                    raise
                log(f"trainjob {name}: API server answered {err.status} ({err.reason}), polling on")
            else:
                if job is None:
                    raise TrainJobFailed(name, "Deleted", "the TrainJob was deleted before it finished")
                state = job_state(job)
                if state != last:
                    log(f"trainjob {name}: {state}")
                    last = state
                if state.state == "Complete":
                    return job
                if state.state == "Failed":
                    raise TrainJobFailed(name, state.reason or "Failed", state.message)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"trainjob {name}: not finished after timeout_s={timeout_s}")
            time.sleep(poll_s)

    def wait_gone(self, name: str, namespace: Optional[str] = None, timeout_s: float = 600.0) -> None:
        """Wait until the job no longer exists (a foreground deletion ends when its pods are gone)."""
        deadline = time.monotonic() + timeout_s
        while self.get(name, namespace) is not None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"trainjob {name}: still there {timeout_s} s after its deletion")
            time.sleep(self.poll_s)

    def delete(self, name: str, namespace: Optional[str] = None) -> bool:
        """Delete the job and (foreground propagation) its JobSet and pods; False when there was none."""
        try:
            self.api.delete_namespaced_custom_object(name=name, propagation_policy="Foreground",
                                                     **self._args(namespace))
            return True
        except ApiException as err:
            if err.status == 404:
                return False
            raise

    def delete_by_label(self, namespace: Optional[str], selector: str) -> list[str]:
        """Delete every job of the namespace that matches the label selector (``mcm.dev/pipeline-run=ID``) and
        is not being deleted already; returns the names of those it deleted."""
        if not selector.strip():
            raise ValueError("selector is empty: it would delete every TrainJob of the namespace")
        listed = self.api.list_namespaced_custom_object(label_selector=selector, **self._args(namespace))
        names = [item["metadata"]["name"] for item in listed.get("items", [])
                 if not item["metadata"].get("deletionTimestamp")]
        return [name for name in names if self.delete(name, namespace)]


def _run_of(obj: dict) -> Optional[str]:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(RUN_LABEL)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM (how Kubernetes stops the pod of a cancelled step) raises ``SystemExit(143)`` once, in the main
    thread; the handler is restored afterwards. Elsewhere (not the main thread) nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = []

    def handler(signum, frame):
        if not raised:  # a second SIGTERM must not interrupt the cleanup of the first
            raised.append(signum)
            raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_trainjob(client: TrainJobClient, manifest: dict, log: Log = _print, poll_s: Optional[float] = None,
                 timeout_s: Optional[float] = None) -> None:
    """Create (or attach to) the job and wait for it. Returns when it is Complete; raises
    :class:`TrainJobFailed` when it fails (the job is kept, for its logs). When the wait is interrupted
    (SIGTERM, KeyboardInterrupt) or times out, the job is deleted before the exception goes on."""
    name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace")
    with _sigterm_raises():
        try:
            client.create(manifest, log)
            client.wait(name, namespace, log, poll_s, timeout_s)
        except (KeyboardInterrupt, SystemExit, TimeoutError) as err:
            log(f"trainjob {name}: stopped ({'SIGTERM' if isinstance(err, SystemExit) else type(err).__name__}), "
                "deleting it")
            client.delete(name, namespace)
            raise
