"""The distillation component: unit (config rewiring, job names, what the model artifact keeps) and kfp.local (the
local backend trains the tiny preset in the step and publishes a student the samplers load); the TrainJob
backend against a fake Kubernetes API server: a job that fails fails the step with the job's message."""

import json
import sys
from pathlib import Path

import pytest

from components.distill.launch import NOT_IN_MODEL, last_metrics, local_launcher, trainjob_name, with_data
from pipelines.params import TINY, load_params

PARAMS = load_params(overlays=[TINY])


def test_with_data_points_the_config_at_the_artifacts():
    section = with_data(PARAMS["distill"], "/a/videos", "/a/images")
    assert section["data"]["path"] == "/a/videos" and section["images"]["path"] == "/a/images"
    assert PARAMS["distill"]["data"]["path"] != "/a/videos"  # the parameter itself is not modified
    no_images = with_data({"base": "toy", "data": {"path": "x"}}, "/v", "/i")
    assert "images" not in no_images  # a preset without an image set gets none


def test_trainjob_name_is_stable_dns_1035_and_short():
    run_id = "3F2A9C1E-77B0-4D8E-9A1F-0123456789AB"
    name = trainjob_name(run_id)
    assert name == trainjob_name(run_id) and len(name) <= 63 and name.islower()
    assert name.startswith("mcm-distill-3f2a9c1e") and not name.endswith("-")


def test_local_launcher_is_torchrun_only_for_several_processes():
    assert local_launcher(1) == []
    assert local_launcher(2)[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]


def test_last_metrics_reads_the_trainers_last_update(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5, "lr": 0.1}\n')
    assert last_metrics(tmp_path) == {"step": 2.0, "loss": 1.5}
    assert last_metrics(tmp_path / "none") == {}


def test_local_backend_trains_and_publishes_a_loadable_student(student, workdir):
    run = workdir / "runs/tiny"
    assert (run / "checkpoints").is_dir() and (run / "final/adapter_model.safetensors").is_file()
    assert not any((student / name).exists() for name in NOT_IN_MODEL - {"checkpoints"})
    (ckpt,) = (student / "checkpoints").iterdir()  # only the newest checkpoint's weights and marker
    assert sorted(p.name for p in ckpt.iterdir()) == ["state.json", "weights.safetensors"]
    assert json.loads((student / "metrics.jsonl").read_text().splitlines()[-1])["step"] == \
        PARAMS["distill"]["optim"]["max_steps"]
    # the model artifact is a run folder the samplers load: same LoRA as the run's newest checkpoint
    from mcm.runs.folder import newest_student_lora

    a, b = newest_student_lora(run), newest_student_lora(student)
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


@pytest.fixture
def fake_cluster(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
    from pipeline_trainjob.fake_api import FakeKubeApi

    with FakeKubeApi() as api:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u", "namespace": "ns"}}],
            "users": [{"name": "u", "user": {"token": "t"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("MCM_TRAINJOB_POLL_S", "0.05")
        yield api


def test_trainjob_backend_fails_the_step_with_the_jobs_message(fake_cluster, kfp_local, video_shards, image_shards,
                                                                tmp_path, capsys):
    from kfp import dsl, local
    from kfp.dsl import Dataset, Model

    from components.distill.component import distill
    from pipeline_trainjob.fake_api import RUNNING, failed

    name = trainjob_name("run-1")
    fake_cluster.script(name, [RUNNING, failed("node-0: CUDA out of memory")])
    cluster = dict(PARAMS["cluster"], namespace="ns", mount_path=str(tmp_path / "volume"))

    @dsl.pipeline
    def p() -> Model:
        videos = dsl.importer(artifact_uri=str(video_shards["merged"]), artifact_class=Dataset, reimport=False)
        images = dsl.importer(artifact_uri=str(image_shards), artifact_class=Dataset, reimport=False)
        return distill(videos=videos.output, images=images.output, config=PARAMS["distill"], backend="trainjob",
                       run_dir="", local_nproc=1, run_id="run-1", cluster=cluster,
                       trainer_image="registry.example/mcm-distill:t").outputs["model"]

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"),
               raise_on_error=False)
    p()
    (job,) = fake_cluster.created
    assert job["metadata"]["name"] == name and job["spec"]["trainer"]["image"] == "registry.example/mcm-distill:t"
    args = job["spec"]["trainer"]["args"]
    config = Path(args[args.index("--config") + 1])
    assert "--resume" in args and config.is_file() and str(tmp_path / "volume") in str(config)
    # the shards were copied onto the shared volume and the job's config points at them
    assert (tmp_path / f"volume/pipeline-data/{name}/videos/manifest.json").is_file()
    log = capsys.readouterr().out
    assert "TrainJobFailed" in log and "node-0: CUDA out of memory" in log  # the step failed with the job's message
    assert f"trainjob {name}: Running" in log  # the job's state was streamed into the step's log
    assert "finished with status \x1b[91mFAILURE" in log or "FAILURE" in log
