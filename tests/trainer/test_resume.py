"""Preemption and resume (issue 2: 'What it must show'), for the LCM baseline and the full MCM configuration
(issue 3: motion head + EMA copy, discriminator heads, its optimiser and penalty weight are all restored)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mcm.runs.checkpoint import Checkpointer

ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 6
BASE = [
    "--max-steps", str(MAX_STEPS),
    "--set", "optim.global_batch=4", "--set", "train.checkpoint_every=2", "--set", "train.validate_every=0",
    "--set", "train.keep_last=5", "--set", "optim.lr=1e-3",
]
PRESETS = ["tiny", "mcm_tiny"]
RESUME_TOL = 1e-6


def distill(run: Path, preset: str, *extra: str, env_extra=None, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = [sys.executable, "-m", "mcm.cli.main", "distill", "--output", str(run), "--config", preset, *BASE, *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def final_state(run: Path) -> tuple[dict, dict]:
    """(every saved weight of the last checkpoint, its optimiser states) plus the exported LoRA's keys."""
    last = Checkpointer(run, 5).latest()
    assert last.name == f"checkpoint-{MAX_STEPS:08d}"
    weights = load_file(str(last / "weights.safetensors"))
    weights.update({"final." + k: v for k, v in load_file(str(run / "final" / "adapter_model.safetensors")).items()})
    return weights, torch.load(last / "optimizers.pt", weights_only=True)


def flat_tensors(tree, prefix="") -> dict[str, torch.Tensor]:
    """Every tensor or number in a nested optimiser state, by path."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flat_tensors(sub, f"{prefix}{key}/").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, sub in enumerate(tree) for k, v in flat_tensors(sub, f"{prefix}{i}/").items()}
    if isinstance(tree, (int, float)) and not isinstance(tree, bool):
        return {prefix: torch.tensor(float(tree))}
    return {prefix: tree} if isinstance(tree, torch.Tensor) else {}


def assert_same_run(ref_run: Path, run: Path, preset: str) -> None:
    (ref_w, ref_o), (got_w, got_o) = final_state(ref_run), final_state(run)
    assert ref_w.keys() == got_w.keys()
    if preset == "mcm_tiny":
        groups = {k.split(".")[0] for k in ref_w}
        assert {"student", "motion_head", "motion_head_ema", "discriminator"} <= groups
        assert {"discriminator_optimizer", "penalty_weight"} <= set(ref_o)
    for k in ref_w:
        assert (ref_w[k].float() - got_w[k].float()).abs().max().item() <= RESUME_TOL, k
    ref_flat, got_flat = flat_tensors(ref_o), flat_tensors(got_o)
    assert ref_flat.keys() == got_flat.keys()
    for k in ref_flat:
        assert (ref_flat[k].float() - got_flat[k].float()).abs().max().item() <= RESUME_TOL, k


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, Path]:
    runs = {}
    for preset in PRESETS:
        runs[preset] = tmp_path_factory.mktemp(f"uninterrupted-{preset}") / "run"
        distill(runs[preset], preset)
    return runs


def sigkill_during_the_first_checkpoint_write(run: Path, preset: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MCM_FAULT_CHECKPOINT_DELAY_S": "30"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcm.cli.main", "distill", "--output", str(run), "--config", preset, *BASE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    tmp_ckpt = run / "checkpoints" / "checkpoint-00000002.tmp"
    deadline = time.time() + 300
    while not (tmp_ckpt / "weights.safetensors").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert (tmp_ckpt / "weights.safetensors").exists(), "the first checkpoint write never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert Checkpointer(run, 5).latest() is None  # the partial checkpoint is not complete


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_sigkill_mid_write_then_sigterm_twice_then_resume_equals_an_uninterrupted_run(tmp_path, uninterrupted, preset):
    """One run through every fault (one process start each, to keep the suite short):
    1. SIGKILL while the first checkpoint is being written: the partial checkpoint is ignored and removed;
    2. resume (from scratch), SIGTERM between the micro-batches of update 2 (mid-accumulation);
    3. resume, SIGTERM at the boundary before update 4;
    4. resume to the end: every saved weight and optimiser state equals the uninterrupted run's."""
    run = tmp_path / "run"
    sigkill_during_the_first_checkpoint_write(run, preset)
    for update, micro in ((2, 1), (4, 0)):
        proc = distill(run, preset, "--resume", env_extra={"MCM_FAULT_SIGTERM_AT": f"{update}:{micro}"})
        if (update, micro) == (2, 1):
            assert "no complete checkpoint" in proc.stderr
            assert not (run / "checkpoints" / "checkpoint-00000002.tmp").exists()  # stale partial write removed
        assert "preempted" in proc.stdout
        assert not (run / "final").exists()
        stopped_at = int(Checkpointer(run, 5).latest().name.split("-")[-1])
        assert stopped_at == update + 1  # the interrupted update was completed, then saved
    distill(run, preset, "--resume")
    assert_same_run(uninterrupted[preset], run, preset)


def test_checkpoint_atomic_keep_last_and_safe_loading(tmp_path):
    ck = Checkpointer(tmp_path, keep_last=2)
    for step in (1, 2, 3):
        ck.save(step, {"student.w": torch.full((2,), float(step))}, {"optimizer": {"state": {}}}, {"step": step})
    assert [p.name for p in ck.complete()] == ["checkpoint-00000002", "checkpoint-00000003"]
    (tmp_path / "checkpoints" / "checkpoint-00000009.tmp").mkdir()
    assert ck.latest().name == "checkpoint-00000003"
    weights, opt, state = ck.load(ck.latest())
    assert weights["student.w"].tolist() == [3.0, 3.0] and state["step"] == 3
