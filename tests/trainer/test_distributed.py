"""Two processes on gloo, each reading its own shard, gradient accumulation 4, against one process with the
same global batch (issue 2: 'What it must show'), for the LCM baseline and for the full MCM configuration
(issue 3: learnable motion head with its EMA target, discriminator with its own optimiser, mixed trajectories)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mcm.config.load import load_config
from mcm.trainer.trainer import Trainer

WORKER = Path(__file__).with_name("ddp_worker.py")
UPDATES, ACCUM = 3, 4
# Same samples and draws on both sides; only the order of float additions (the all-reduce) differs. Adam
# divides by sqrt(v), so for parameters whose gradients are ~1e-9 that rounding shows up in single elements:
# the tolerance is on the whole update, ||w_ddp - w_single|| / ||w_single - w_0||, and Adam's eps is raised to
# 1e-4 so that near-zero gradients do not turn rounding into full-size steps (with eps 1e-8: 2.9e-3; 1e-4: 9e-5).
RANK_MATCH_TOL = 0.0
SINGLE_PROCESS_REL_TOL = 1e-3
# Module prefixes of the trained state (weights.safetensors layout) each configuration must move.
TRAINED = {"tiny": ("student.",), "mcm_tiny": ("student.", "motion_head.", "motion_head_ema.", "discriminator.")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def overrides(batch: int) -> list[str]:
    return [
        f"optim.max_steps={UPDATES}", f"optim.global_batch={ACCUM * 2}", f"data.batch_size={batch}",
        "optim.warmup_steps=0", "optim.lr=1e-3", "data.synthetic_size=32", "train.validate_every=0",
        "train.checkpoint_every=100", "optim.eps=1e-4", "discriminator.eps=1e-4",
    ]


def launch(preset: str, nproc: int, batch: int, run: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           f"--master_port={free_port()}", str(WORKER), str(run), str(out), preset, *overrides(batch)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def initial_state(preset: str, tmp: Path) -> dict[str, torch.Tensor]:
    """The trained state before any update, from the same constructor the workers use."""
    trainer = Trainer(load_config(preset, overrides(2)), tmp)
    trainer.save_checkpoint()
    return load_file(str(trainer.checkpointer.latest() / "weights.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "mcm_tiny"])
def test_two_gloo_ranks_match_one_process_with_the_same_global_batch(tmp_path, preset):
    launch(preset, 2, 1, tmp_path / "ddp", tmp_path / "ddp_out")
    launch(preset, 1, 2, tmp_path / "single", tmp_path / "single_out")

    r0 = load_file(str(tmp_path / "ddp_out" / "state-rank0.safetensors"))
    r1 = load_file(str(tmp_path / "ddp_out" / "state-rank1.safetensors"))
    single = load_file(str(tmp_path / "single_out" / "state-rank0.safetensors"))
    initial = initial_state(preset, tmp_path / "init")
    assert r0.keys() == single.keys() == initial.keys()

    for prefix in TRAINED[preset]:
        keys = [k for k in r0 if k.startswith(prefix)]
        moved = max((r0[k].float() - initial[k].float()).abs().max().item() for k in keys)
        assert moved > 1e-6, f"the trained weights under {prefix!r} did not move"
    assert not all(torch.equal(r0[k], initial[k]) for k in r0 if "lora_A" in k)  # A trained too

    for k in r0:
        assert (r0[k] - r1[k]).abs().max().item() <= RANK_MATCH_TOL, f"ranks differ at {k}"
    for prefix in TRAINED[preset]:
        keys = [k for k in r0 if k.startswith(prefix) and r0[k].is_floating_point()]
        diff = sum(((r0[k].float() - single[k].float()) ** 2).sum() for k in keys).sqrt()
        update = sum(((single[k].float() - initial[k].float()) ** 2).sum() for k in keys).sqrt()
        print(f"{preset} {prefix}: relative difference DDP vs one process {diff / update:.2e}")
        assert diff / update <= SINGLE_PROCESS_REL_TOL, prefix

    for rank in (0, 1):
        counts = json.loads((tmp_path / "ddp_out" / f"counts-rank{rank}.json").read_text())
        assert counts["world"] == 2
        assert counts["adam_steps"] == [float(UPDATES)]  # exactly N optimiser steps (student and D) ...
        assert counts["position"] == UPDATES * ACCUM  # ... for 4N micro-batches
