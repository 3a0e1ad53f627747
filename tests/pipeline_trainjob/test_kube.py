"""pipelines.kube against a fake Kubernetes API server (a real HTTP server, reached through the official
``kubernetes`` client): a job that completes, one that fails, a retried step, the exit handler's clean-up and a
cancelled step (SIGTERM)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.kube import JobState, TrainJobClient, TrainJobConflict, TrainJobFailed, job_state, run_trainjob
from pipelines.trainjob import RUN_LABEL, TrainJobParams, render_trainjob

from .fake_api import COMPLETE, PENDING, RUNNING, STARTING, FakeKubeApi, condition, failed

ROOT = Path(__file__).resolve().parents[2]
NS, NAME = "team-a", "mcm-distill-1"
POLL_S = 0.02


def manifest(name: str = NAME, run: str = "run-1", namespace: str = NS) -> dict:
    return render_trainjob(TrainJobParams(name=name, namespace=namespace, labels={RUN_LABEL: run}, image="mcm:test",
                                          command=["mcm", "distill", "--config", "tiny", "--resume"]))


@pytest.fixture
def api():
    with FakeKubeApi() as server:
        yield server


@pytest.fixture
def client(api):
    return TrainJobClient.from_host(api.url, namespace="default", poll_s=POLL_S)


def test_a_job_that_completes_returns_and_logs_each_state_once(api, client):
    api.script(NAME, [PENDING, PENDING, STARTING, RUNNING, RUNNING, RUNNING, COMPLETE])
    lines = []
    run_trainjob(client, manifest(), lines.append)
    assert lines == [f"trainjob {NAME}: {s}" for s in (
        "created", "Pending", "Starting", "Running", "Complete (JobsCompleted: jobset completed successfully)")]
    assert api.created == [{**manifest(), "metadata": {**manifest()["metadata"], "uid": "uid-0"},
                            "status": PENDING}]  # the server received the rendered manifest, unchanged
    assert not api.calls("DELETE")


def test_a_failed_job_raises_with_its_condition_message_and_is_kept(api, client):
    api.script(NAME, [RUNNING, RUNNING, failed("node-1 exited with code 137 (OOMKilled)")])
    lines = []
    with pytest.raises(TrainJobFailed, match=r"mcm-distill-1 failed: FailedJobs: node-1 exited .*OOMKilled") as err:
        run_trainjob(client, manifest(), lines.append)
    assert (err.value.reason, err.value.message) == ("FailedJobs", "node-1 exited with code 137 (OOMKilled)")
    assert lines[-1] == f"trainjob {NAME}: Failed (FailedJobs: node-1 exited with code 137 (OOMKilled))"
    assert (NS, NAME) in api.jobs and not api.calls("DELETE")  # kept for its logs; a retry replaces it


def test_a_retried_step_deletes_the_failed_job_waits_until_it_is_gone_and_creates_it_again(api, client):
    api.script(NAME, [RUNNING, failed("NCCL timeout")])
    api.script(NAME, [RUNNING, COMPLETE])
    with pytest.raises(TrainJobFailed, match="NCCL timeout"):
        run_trainjob(client, manifest(), [].append)
    lines = []
    run_trainjob(client, manifest(), lines.append)  # the step's retry
    assert lines[0] == f"trainjob {NAME}: exists (Failed (FailedJobs: NCCL timeout)), deleting it to create it again"
    calls = [(method, name, query) for method, _, name, query in api.requests if method in ("POST", "DELETE")]
    assert calls == [("POST", "", {"fieldValidation": "Strict"}), ("POST", "", {"fieldValidation": "Strict"}),
                     ("DELETE", NAME, {"propagationPolicy": "Foreground"}), ("POST", "", {"fieldValidation": "Strict"})]
    # the new job was created only after a read answered 404 (the old one's pods gone), and it is a new object
    last_post = max(i for i, r in enumerate(api.requests) if r[0] == "POST")
    assert api.requests[last_post - 1][:3] == ("GET", NS, NAME)
    assert [job["metadata"]["uid"] for job in api.created] == ["uid-0", "uid-1"]
    assert lines[-1].endswith("Complete (JobsCompleted: jobset completed successfully)")


@pytest.mark.parametrize("statuses, attached", [
    ([RUNNING, COMPLETE], "Running"), ([COMPLETE], "Complete (JobsCompleted: jobset completed successfully)")])
def test_a_retried_step_attaches_to_a_running_or_complete_job(api, client, statuses, attached):
    api.add(NS, manifest(), statuses)
    lines = []
    run_trainjob(client, manifest(), lines.append)
    assert lines[0] == f"trainjob {NAME}: exists ({attached}), attaching to it"
    assert not api.created and not api.calls("DELETE")


def test_a_job_of_another_run_is_neither_attached_to_nor_deleted(api, client):
    api.add(NS, manifest(run="run-0"), [failed("old run")])
    with pytest.raises(TrainJobConflict, match=f"{RUN_LABEL}=run-0, not run-1"):
        run_trainjob(client, manifest(run="run-1"), [].append)
    assert not api.created and not api.calls("DELETE")


def test_the_exit_handler_deletes_only_the_runs_jobs(api, client):
    for name, run, namespace in [("a", "run-1", NS), ("b", "run-1", NS), ("c", "run-2", NS), ("d", "run-1", "other")]:
        client.create(manifest(name, run, namespace), [].append)
    assert sorted(client.delete_by_label(NS, f"{RUN_LABEL}=run-1")) == ["a", "b"]
    assert {(m, n, q["propagationPolicy"]) for m, _, n, q in api.calls("DELETE")} == {
        ("DELETE", "a", "Foreground"), ("DELETE", "b", "Foreground")}
    assert job_state(client.get("a", NS)).state == "Deleting"
    assert client.get("a", NS) is None  # garbage-collected
    assert job_state(client.get("c", NS)).state == "Pending" and client.get("d", "other") is not None
    assert client.delete_by_label(NS, f"{RUN_LABEL}=run-1") == []  # a is gone, b is being deleted
    assert len(api.calls("DELETE")) == 2
    assert client.delete("a", NS) is False  # already gone: not an error
    with pytest.raises(ValueError, match="selector is empty"):
        client.delete_by_label(NS, " ")


def test_a_manifest_without_namespace_goes_to_the_clients(api, client):
    api.script(NAME, [COMPLETE])
    run_trainjob(client, manifest(namespace=None), [].append)
    assert ("default", NAME) in api.jobs


def test_an_interrupted_or_timed_out_wait_deletes_the_job(api, client):
    api.script(NAME, [RUNNING])  # runs for ever

    def interrupt_when_running(line: str) -> None:
        if line.endswith("Running"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_trainjob(client, manifest(), interrupt_when_running)
    assert [n for _, _, n, _ in api.calls("DELETE")] == [NAME]
    client.wait_gone(NAME, NS, timeout_s=5)

    api.script(NAME, [RUNNING])
    with pytest.raises(TimeoutError, match="timeout_s=0.1"):
        run_trainjob(client, manifest(), [].append, timeout_s=0.1)
    assert [n for _, _, n, _ in api.calls("DELETE")] == [NAME, NAME]


def test_sigterm_of_a_cancelled_step_deletes_the_job(api):
    """The step runs in its own process, as in its pod; SIGTERM is how Kubernetes stops it."""
    api.script(NAME, [RUNNING])
    code = ("import json, sys; from pipelines.kube import TrainJobClient, run_trainjob; "
            "run_trainjob(TrainJobClient.from_host(sys.argv[1], poll_s=0.05), json.loads(sys.argv[2]))")
    step = subprocess.Popen([sys.executable, "-c", code, api.url, json.dumps(manifest())], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(api.calls("GET", NAME)) < 3 and step.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert step.poll() is None, step.communicate()
    step.send_signal(signal.SIGTERM)
    out, err = step.communicate(timeout=30)
    assert step.returncode == 128 + signal.SIGTERM, err
    assert f"trainjob {NAME}: Running" in out and f"trainjob {NAME}: stopped (SIGTERM), deleting it" in out
    assert [(n, q) for _, _, n, q in api.calls("DELETE")] == [(NAME, {"propagationPolicy": "Foreground"})]


def test_states_of_other_conditions():
    assert job_state({"status": {"conditions": [condition("Created", "JobsCreationSucceeded", "ok")]}}) == \
        JobState("Created")  # Trainer v2.0-2.1
    suspended = {"status": {"conditions": [condition("Suspended", "Suspended", "queued by Kueue")]}}
    assert str(job_state(suspended)) == "Suspended (Suspended: queued by Kueue)"
    resumed = {"status": {"conditions": [{**condition("Suspended", "Resumed", ""), "status": "False"}], **RUNNING}}
    assert job_state(resumed) == JobState("Running")
