"""The exit handler: unit (what it deletes for each final state) and kfp.local against a fake Kubernetes API
server: when the run fails, the run's TrainJobs are deleted and other runs' jobs are left alone."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))

from components.cleanup.delete import cleanup  # noqa: E402
from components.distill.launch import RUN_LABEL, trainjob_name  # noqa: E402
from pipeline_trainjob.fake_api import RUNNING, FakeKubeApi  # noqa: E402


def _job(name: str, run: str) -> dict:
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": {"name": name, "namespace": "ns", "labels": {RUN_LABEL: trainjob_name(run, "run")}},
            "spec": {}}


@pytest.fixture
def api(tmp_path, monkeypatch):
    with FakeKubeApi(gone_after_reads=0) as api:
        cfg = tmp_path / "kubeconfig"
        cfg.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u", "namespace": "ns"}}],
            "users": [{"name": "u", "user": {"token": "t"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(cfg))
        api.add("ns", _job("mcm-distill-mine", "mine"), [RUNNING])
        api.add("ns", _job("mcm-distill-other", "other"), [RUNNING])
        yield api


def test_success_and_local_runs_delete_nothing(api):
    assert cleanup("trainjob", "ns", "mine", "SUCCEEDED") == []
    assert cleanup("local", "ns", "mine", "FAILED") == []
    assert not api.calls("DELETE")


def test_failed_or_cancelled_run_deletes_only_its_jobs(api):
    assert cleanup("trainjob", "ns", "mine", "CANCELED") == ["mcm-distill-mine"]
    assert [c[2] for c in api.calls("DELETE")] == ["mcm-distill-mine"]


def test_exit_handler_under_kfp_local_deletes_the_failed_runs_job(api, kfp_local, tmp_path):
    from kfp import dsl, local

    from components.cleanup.component import delete_trainjobs

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def training_that_fails():
        raise RuntimeError("the TrainJob's step failed")

    @dsl.pipeline
    def p():
        exit_task = delete_trainjobs(backend="trainjob", namespace="ns", run_id="mine")
        with dsl.ExitHandler(exit_task):
            training_that_fails()

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"),
               raise_on_error=False)
    p()
    assert [c[2] for c in api.calls("DELETE")] == ["mcm-distill-mine"]
    assert ("ns", "mcm-distill-other") in api.jobs
