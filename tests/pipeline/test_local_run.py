"""The whole pipeline under kfp.local on tiny parameters (pipelines/params_tiny.yaml), as `make pipeline-run` runs
it without a cluster: every step succeeds, the report, the exported model and the model repository are left where
the README says, and the smoke test got a video from a real Triton server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.params import REPO, TINY

SERVE_VENV = Path(os.environ.get("MCM_SERVE_VENV", REPO / ".venv-serve"))


@pytest.mark.slow
@pytest.mark.skipif(not (SERVE_VENV / "bin/python").exists(),
                    reason=f"no serving environment at {SERVE_VENV} (make serve-venv; make test sets MCM_SERVE_VENV)")
def test_make_pipeline_run_on_tiny_parameters(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "assets").symlink_to(REPO / "assets")
    env = dict(os.environ, PYTHONPATH=str(REPO), MCM_SERVE_VENV=str(SERVE_VENV))
    res = subprocess.run([sys.executable, "-m", "pipelines.run", "--overlay", str(TINY)], cwd=work, env=env,
                         capture_output=True, text=True, timeout=900)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-6000:]
    assert "Pipeline \x1b[95m'mcm-distillation'\x1b[0m finished with status \x1b[92mSUCCESS" in log
    for step in ("generate-world", "prepare-videos", "merge-video-shards", "filter-images", "distill", "evaluate",
                 "export-student", "publish-model", "smoke-test", "delete-trainjobs"):
        assert f"Task \x1b[96m'{step}'\x1b[0m finished with status \x1b[92mSUCCESS" in log, step
    (run,) = (work / "runs/pipeline").glob("mcm-distillation-*")
    groups = sorted(run.glob("for-loop-*/prepare-videos/shards"))  # the fan-out: one folder per shard group
    assert len(groups) == 2 and all(len(list(g.glob("*.tar"))) == 1 for g in groups)
    # what the README promises after make pipeline-run
    page = (work / "runs/toy/index.html").read_text()
    assert "Teacher and student, same prompts and seeds" in page and (work / "runs/toy/eval/seen/metrics.json").is_file()
    assert (work / "runs/LATEST").read_text().strip() == "toy"
    assert (work / "exports/toy/model_index.json").is_file() and (work / "exports/toy/onnx/parts.json").is_file()
    assert (work / "serving/repository/student/config.pbtxt").is_file()
    assert "report:" in res.stdout and "exported model:" in res.stdout
    # the smoke test's metrics: a video of the exported shape came back from Triton
    smoke = run / "smoke-test/executor_output.json"
    metrics = json.loads(smoke.read_text())["artifacts"]["metrics"]["artifacts"][0]["metadata"]
    assert (metrics["frames"], metrics["height"]) == (8, 32) and metrics["pixel_std"] > 1
    # the Kubeflow UI's artifacts: a self-contained HTML report and a Markdown summary
    report = run / "evaluate/report"
    assert "data:image/gif;base64," in report.read_text()
    assert "| MCM (ours) | 1 |" in (report.parent / "summary").read_text()
