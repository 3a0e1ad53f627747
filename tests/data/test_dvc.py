"""`dvc repro` of the data stages on a small fixture: runs, is a no-op when repeated, re-runs only what changed."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from data_media import make_video, write_csv

REPO = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).with_name("dvc")


def _wired() -> bool:
    """Whether `python -m mcm.cli.main data` works (else the test calls mcm.cli.data, its stand-alone entry)."""
    if importlib.util.find_spec("mcm.cli.main") is None:
        return False
    res = subprocess.run([sys.executable, "-m", "mcm.cli.main", "data", "videos", "--help"], cwd=REPO,
                         capture_output=True)
    return res.returncode == 0


def _fixture(work: Path) -> None:
    (work / "data/raw/videos").mkdir(parents=True)
    (work / "data/raw/images").mkdir(parents=True)
    rows = []
    for i in range(2):
        make_video(work / f"data/raw/videos/v{i}.mp4", 10, size=32, seed=i)
        rows.append({"id": f"v{i}", "path": f"v{i}.mp4", "caption": f"video {i}"})
    write_csv(work / "data/raw/videos.csv", rows)
    rng = np.random.default_rng(0)
    with open(work / "data/raw/images.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "url", "caption", "aesthetic", "width", "height"])
        for i, score in enumerate([5.0, 6.5]):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(work / f"data/raw/images/i{i}.png")
            w.writerow([f"i{i}", f"i{i}.png", f"image {i}", score, 32, 32])


#: The data stages; the later ones (world, distill, eval, report) run in `make pipeline-run`'s test of the pipeline.
DATA_STAGES = ("data_videos", "data_images")


def _repro(work: Path, env: dict) -> str:
    res = subprocess.run([str(DVC), "repro", *DATA_STAGES], cwd=work, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_dvc_repro_data_stages(tmp_path):
    work = tmp_path / "repo"
    work.mkdir()
    shutil.copytree(REPO / "mcm", work / "mcm", ignore=shutil.ignore_patterns("__pycache__"))
    dvc_yaml = (REPO / "dvc.yaml").read_text()
    if not _wired():
        dvc_yaml = dvc_yaml.replace("python -m mcm.cli.main data", "python -m mcm.cli.data")
    (work / "dvc.yaml").write_text(dvc_yaml)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data_videos"].update(input="data/raw/videos.csv", root="data/raw/videos", num_frames=4, height=32,
                                 width=32, frame_stride=None, frame_codec="npy")
    params["data_images"].update(input="data/raw/images.csv", root="data/raw/images", min_size=16)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    _fixture(work)
    env = {**os.environ, "PATH": f"{DVC.parent}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1",
           "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(work)}
    subprocess.run([str(DVC), "init", "--no-scm", "-q"], cwd=work, env=env, check=True)
    subprocess.run([str(DVC), "config", "core.autostage", "false"], cwd=work, env=env, check=False)

    out = _repro(work, env)
    assert "Running stage 'data_videos'" in out and "Running stage 'data_images'" in out
    assert (work / "data/prepared/videos/manifest.json").exists()
    assert '"num_written": 1' in (work / "data/prepared/images/manifest.json").read_text()

    out = _repro(work, env)
    assert "Running stage" not in out

    params["data_images"]["min_aesthetic"] = 4.0
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    out = _repro(work, env)
    assert "Running stage 'data_images'" in out and "Running stage 'data_videos'" not in out
    assert '"num_written": 2' in (work / "data/prepared/images/manifest.json").read_text()
