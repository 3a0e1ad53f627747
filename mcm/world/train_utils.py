"""What the small world's model trainers share: thread count, seeded batches, atomic output folders.

Determinism: a trainer's result is a function of its config, its seed and the thread count. Batches and
noise are drawn from generators keyed by (seed, step), never from a global stream, so a resumed run draws
what an uninterrupted one would. Each model is written to ``<folder>.tmp`` and renamed when complete, with a
``training.json`` record; a folder that has one is complete and is not trained again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from pydantic import Field

from mcm.config.base import StrictConfig

RECORD_FILE = "training.json"
Log = Callable[[str], None]


class ModelTrainConfig(StrictConfig):
    """Fields every small-world trainer has."""

    seed: int = Field(0, description="Seed of the initialisation, the batches and the noise.")
    steps: int = Field(1000, ge=1, description="Optimiser steps.")
    batch_size: int = Field(64, ge=1, description="Samples per step.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate (AdamW), after a linear warm-up.")
    warmup_steps: int = Field(50, ge=0, description="Linear warm-up steps.")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine decay ends at lr x this.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    log_every: int = Field(100, ge=1, description="Steps between progress lines.")


def step_rng(seed: int, step: int, stream: int = 0) -> np.random.Generator:
    """The generator of step ``step`` (independent of every other step: resuming changes nothing)."""
    return np.random.default_rng([seed, stream, step])


def torch_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(int(step_rng(seed, step, stream).integers(2**62)))


def lr_at(cfg: ModelTrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``lr x min_lr_ratio`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return float(cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + np.cos(np.pi * min(progress, 1.0)))))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def is_complete(folder: str | Path) -> bool:
    return (Path(folder) / RECORD_FILE).is_file()


def read_record(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / RECORD_FILE).read_text())


@contextmanager
def atomic_folder(folder: str | Path) -> Iterator[Path]:
    """Yield ``<folder>.tmp`` to write into; on success it replaces ``folder``."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    yield tmp
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def write_record(folder: Path, record: dict[str, Any]) -> None:
    (folder / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


class Progress:
    """Logs ``name step/total loss=... (s/step, eta)`` every ``every`` steps and keeps the loss curve."""

    def __init__(self, name: str, total: int, every: int, log: Log, start: int = 0) -> None:
        self.name, self.total, self.every, self.log = name, total, every, log
        self.t0, self.start = time.perf_counter(), start
        self.curve: list[tuple[int, float]] = []
        self._acc: list[float] = []

    def update(self, step: int, loss: float) -> None:
        self._acc.append(loss)
        done = step + 1
        if done % self.every == 0 or done == self.total:
            mean = float(np.mean(self._acc))
            self.curve.append((done, mean))
            self._acc = []
            rate = (time.perf_counter() - self.t0) / max(1, done - self.start)
            self.log(f"{self.name} {done}/{self.total} loss={mean:.5f} {rate:.3f} s/step "
                     f"eta {rate * (self.total - done) / 60:.1f} min")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.t0


def frames_tensor(clips_uint8: np.ndarray) -> torch.Tensor:
    """uint8 (N, F, H, W, 3) -> float (N, F, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(clips_uint8).permute(0, 1, 4, 2, 3).float().div(127.5).sub(1.0)
