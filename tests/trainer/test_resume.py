"""Preemption and resume (issue: 'What it must show')."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mcm.trainer.checkpoint import Checkpointer

ROOT = Path(__file__).resolve().parents[2]
BASE = [
    "--config", "tiny", "--max-steps", "6",
    "--set", "optim.grad_accum=2", "--set", "train.checkpoint_every=2", "--set", "train.validate_every=0",
    "--set", "train.keep_last=5", "--set", "optim.lr=1e-3",
]
RESUME_TOL = 1e-6


def distill(run: Path, *extra: str, env_extra=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-m", "mcm.cli.main", "distill", "--output", str(run), *BASE, *extra],
                          capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def final_lora(run: Path) -> dict:
    return load_file(str(run / "final" / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    distill(run)
    return run


@pytest.mark.slow
@pytest.mark.parametrize("update, micro", [(2, 1), (3, 0)])  # between micro-batches of one update; at a boundary
def test_sigterm_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted, update, micro):
    run = tmp_path / "run"
    first = distill(run, env_extra={"MCM_FAULT_SIGTERM_AT": f"{update}:{micro}"})
    assert "preempted" in first.stdout
    assert not (run / "final").exists()
    stopped_at = int(Checkpointer(run, 5).latest().name.split("-")[-1])
    assert stopped_at == update + 1  # the interrupted update was completed, then saved
    distill(run, "--resume")
    ref, got = final_lora(uninterrupted), final_lora(run)
    assert ref.keys() == got.keys()
    for k in ref:
        assert (ref[k] - got[k]).abs().max().item() <= RESUME_TOL, k


@pytest.mark.slow
def test_sigkill_while_writing_a_checkpoint_leaves_one_that_resume_ignores(tmp_path, uninterrupted):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MCM_FAULT_CHECKPOINT_DELAY_S": "30"}
    proc = subprocess.Popen([sys.executable, "-m", "mcm.cli.main", "distill", "--output", str(run), *BASE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    tmp_ckpt = run / "checkpoints" / "checkpoint-00000002.tmp"
    deadline = time.time() + 300
    while not (tmp_ckpt / "weights.safetensors").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert (tmp_ckpt / "weights.safetensors").exists(), "the first checkpoint write never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert Checkpointer(run, 5).latest() is None  # the partial checkpoint is not complete
    resumed = distill(run, "--resume")
    assert "no complete checkpoint" in resumed.stderr
    assert not tmp_ckpt.exists()  # the stale partial write was cleaned up
    ref, got = final_lora(uninterrupted), final_lora(run)
    for k in ref:
        assert (ref[k] - got[k]).abs().max().item() <= RESUME_TOL, k


def test_checkpoint_atomic_keep_last_and_safe_loading(tmp_path):
    ck = Checkpointer(tmp_path, keep_last=2)
    for step in (1, 2, 3):
        ck.save(step, {"student.w": torch.full((2,), float(step))}, {"optimizer": {"state": {}}}, {"step": step})
    assert [p.name for p in ck.complete()] == ["checkpoint-00000002", "checkpoint-00000003"]
    (tmp_path / "checkpoints" / "checkpoint-00000009.tmp").mkdir()
    assert ck.latest().name == "checkpoint-00000003"
    weights, opt, state = ck.load(ck.latest())
    assert weights["student.w"].tolist() == [3.0, 3.0] and state["step"] == 3
