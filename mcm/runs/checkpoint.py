"""Checkpoints: atomic, self-describing, resumable exactly.

Layout of ``RUN/checkpoints/checkpoint-00000100/``:
    weights.safetensors     every trainable module's state (LoRA; later motion head, its EMA, discriminator),
                            keys prefixed by module name
    optimizers.pt           optimiser and LR-scheduler state dicts (torch.save; loaded with weights_only=True)
    rng-rank{r}.pt          each rank's torch / numpy / python RNG states
    state.json              step, data position, optimiser-step count, config digest
A checkpoint is written into ``checkpoint-XXXXXXXX.tmp`` and renamed when complete, so a process killed while
writing leaves a ``.tmp`` folder that ``latest()`` ignores (and the next save removes).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from safetensors.torch import load_file, save_file

PREFIX = "checkpoint-"
TMP_SUFFIX = ".tmp"
WEIGHTS = "weights.safetensors"
OPTIMIZERS = "optimizers.pt"
STATE = "state.json"
FAULT_DELAY_ENV = "MCM_FAULT_CHECKPOINT_DELAY_S"


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_meta": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": json.dumps(random.getstate()),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, pos, has_gauss, cached = state["numpy_meta"]
    np.random.set_state((name, state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpointer:
    """Saves and finds checkpoints under ``run_dir/checkpoints``; keeps the last ``keep_last``."""

    def __init__(self, run_dir: str | Path, keep_last: int, rank: int = 0, barrier: Callable[[], None] = lambda: None):
        self.root = Path(run_dir) / "checkpoints"
        self.keep_last, self.rank, self.barrier = keep_last, rank, barrier
        # Fault injection for tests: pause between the weights and the completion marker.
        self.write_delay_s = float(os.environ.get(FAULT_DELAY_ENV, "0"))

    @staticmethod
    def name(step: int) -> str:
        return f"{PREFIX}{step:08d}"

    def complete(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and not p.name.endswith(TMP_SUFFIX)]
        return sorted(p for p in found if (p / STATE).is_file())

    def latest(self) -> Optional[Path]:
        done = self.complete()
        return done[-1] if done else None

    def save(
        self,
        step: int,
        weights: dict[str, torch.Tensor],
        optimizer_states: dict[str, Any],
        state: dict[str, Any],
    ) -> Path:
        """Write one checkpoint collectively (every rank calls it; rank 0 writes the shared files)."""
        final = self.root / self.name(step)
        tmp = self.root / (self.name(step) + TMP_SUFFIX)
        if self.rank == 0:
            self.root.mkdir(parents=True, exist_ok=True)
            for stale in self.root.glob(PREFIX + "*" + TMP_SUFFIX):
                shutil.rmtree(stale, ignore_errors=True)
            tmp.mkdir()
        self.barrier()
        torch.save(rng_state(), tmp / f"rng-rank{self.rank}.pt")
        self.barrier()
        if self.rank == 0:
            save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS))
            torch.save(optimizer_states, tmp / OPTIMIZERS)
            if self.write_delay_s:
                time.sleep(self.write_delay_s)
            (tmp / STATE).write_text(json.dumps(state, indent=2))  # written last: marks the content complete
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(self.root)
            for old in self.complete()[: -self.keep_last]:
                shutil.rmtree(old, ignore_errors=True)
        self.barrier()
        return final

    def load(self, path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
        """(weights, optimizer states, state) of a checkpoint; restores this rank's RNG states."""
        weights = load_file(str(path / WEIGHTS))
        optimizer_states = torch.load(path / OPTIMIZERS, weights_only=True)
        state = json.loads((path / STATE).read_text())
        rng_file = path / f"rng-rank{self.rank}.pt"
        if rng_file.is_file():
            set_rng_state(torch.load(rng_file, weights_only=True))
        return weights, optimizer_states, state
