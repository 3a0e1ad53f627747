"""dvc.yaml: the embedded default as DVC stages, run with ``dvc repro`` on the tiny parameters.

The slow test reproduces the whole pipeline once in a temporary copy of the repository's layout (dvc.yaml, a
params.yaml resolved from params.yaml + pipelines/params_tiny.yaml, the shipped assets the stages read) and then
checks, on that one workspace, that a second ``dvc repro`` runs nothing, that a changed parameter re-runs only the
stages that read it, and that ``dvc push`` / ``dvc pull`` to a local remote restore every output byte for byte.
Each test leaves the workspace reproduced (``dvc status`` clean), so they pass in any order or alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines.params import TINY, load_params, write_params

REPO = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).with_name("dvc")
#: The stages of dvc.yaml in order, with the parameters each one reads (nothing else re-runs it).
STAGE_PARAMS = {
    "world": {"world"},
    "data_videos": {"data_videos"},
    "data_images": {"data_images"},
    "distill": {"run", "distill"},
    "eval": {"run", "eval"},
    "eval_zero_shot": {"run", "eval_zero_shot"},
    "report": {"run", "report"},
    "export": {"run", "export.out", "export.formats"},
}
#: What the stages read of the shipped assets (assets/toy): copied, not linked, so DVC hashes plain folders.
ASSETS = ("teacher", "backbone", "eval", "baselines")


def test_dvc_yaml_renders_against_params_yaml():
    """The repository's dvc.yaml resolves against its params.yaml: the stages, the parameters each one reads,
    and a default remote that is a local folder."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        stages = {s.addressing: s for s in repo.index.stages}
        assert list(stages) == list(STAGE_PARAMS)
        for name, stage in stages.items():
            read = {p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params}
            assert read == STAGE_PARAMS[name], name
            assert stage.cmd.startswith("python -m mcm.cli.main "), name
        run_dir = load_params(REPO / "params.yaml")["run"]["dir"]
        assert f"{run_dir}/checkpoints" in {str(o.def_path) for o in stages["distill"].outs if o.persist}
        remote = repo.config["core"]["remote"]
        assert "://" not in repo.config["remote"][remote]["url"]  # a folder (gs:// remotes need dvc-gs)


@dataclass
class Workspace:
    root: Path
    env: dict
    first_run: list[str] = field(default_factory=list)  # the stages the first `dvc repro` ran

    def dvc(self, *args: str) -> str:
        res = subprocess.run([str(DVC), *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, f"dvc {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
        return res.stdout + res.stderr

    def repro(self) -> list[str]:
        """``dvc repro``; the stages it ran, in order."""
        return re.findall(r"Running stage '([^']+)'", self.dvc("repro"))

    def assert_clean(self) -> None:
        assert json.loads(self.dvc("status", "--json")) == {}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    """A fresh clone's layout after its first ``dvc repro`` (session scope: built once even where pytest-xdist
    interleaves this module with others)."""
    top = tmp_path_factory.mktemp("dvc")
    root = top / "repo"
    for part in ASSETS:
        shutil.copytree(REPO / "assets/toy" / part, root / "assets/toy" / part,
                        ignore=shutil.ignore_patterns("*.tmp", "__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root)
    shutil.copy(REPO / ".dvcignore", root)
    write_params(load_params(REPO / "params.yaml", overlays=[TINY]), root / "params.yaml")
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    ws = Workspace(root, env)
    ws.dvc("init", "--no-scm", "-q")
    ws.dvc("remote", "add", "-d", "local", str(top / "remote"))
    ws.first_run = ws.repro()
    return ws


@pytest.mark.slow
def test_repro_on_a_fresh_clone_runs_every_stage(workspace):
    assert sorted(workspace.first_run) == sorted(STAGE_PARAMS)
    root = workspace.root
    assert (root / "data/world/world.json").is_file()
    for shards in ("videos", "images"):
        assert json.loads((root / f"data/prepared/{shards}/manifest.json").read_text())["num_written"] > 0
    run = root / "runs/toy"
    assert (root / "runs/LATEST").read_text().strip() == "toy"
    assert (run / "final/adapter_model.safetensors").is_file()
    assert list(run.glob("checkpoints/checkpoint-*/weights.safetensors"))
    for prompts in ("seen", "zero_shot"):
        assert json.loads((run / f"eval/{prompts}/metrics.json").read_text())["results"]
    assert "Teacher and student" in (run / "index.html").read_text()
    assert (root / "exports/toy/model_index.json").is_file()
    formats = load_params(root / "params.yaml")["export"]["formats"]
    assert (root / "exports/toy/onnx/unet.onnx").is_file() == ("onnx" in formats)
    metrics = next(iter(json.loads(workspace.dvc("metrics", "show", "--json")).values()))  # the workspace's
    assert metrics["data"]["runs/toy/speed.json"]["data"]["speedup"] > 0


@pytest.mark.slow
def test_second_repro_runs_nothing(workspace):
    assert workspace.repro() == []
    workspace.assert_clean()


@pytest.mark.slow
def test_changed_parameter_reruns_only_its_stages(workspace):
    """export.formats is read by the export stage alone (mcm export --config params.yaml --section export)."""
    path = workspace.root / "params.yaml"
    params = load_params(path)
    formats = ["diffusers"] if params["export"]["formats"] != ["diffusers"] else ["onnx"]
    params["export"]["formats"] = formats
    write_params(params, path)
    assert workspace.repro() == ["export"]
    exported = workspace.root / "exports/toy"
    assert (exported / "model_index.json").is_file() == ("diffusers" in formats)
    assert (exported / "onnx").is_dir() == ("onnx" in formats)


@pytest.mark.slow
def test_push_then_pull_restores_data_and_checkpoints(workspace):
    root = workspace.root
    files = ["data/world/world.json", "data/prepared/videos/videos-000000.tar", "runs/LATEST",
             "runs/toy/final/adapter_model.safetensors", "runs/toy/eval/seen/metrics.json", "exports/toy/mcm_export.json"]
    files += [str(p.relative_to(root)) for p in root.glob("runs/toy/checkpoints/checkpoint-*/weights.safetensors")]
    before = {f: sha256(root / f) for f in files}
    workspace.dvc("push")
    for produced in (".dvc/cache", "data", "runs", "exports"):
        shutil.rmtree(root / produced)
    workspace.dvc("pull")
    assert {f: sha256(root / f) for f in files} == before
    workspace.assert_clean()  # nothing to re-run: every output, metric and plot came back
