"""Layout of a run folder and of an exported student, and reading/writing the student's weights.

A run folder (``mcm distill --output RUN``)::

    RUN/run.json                      {"format_version": N}: what this layout and its checkpoints mean
    RUN/config.yaml                   the resolved configuration
    RUN/checkpoints/checkpoint-XXXXXXXX/   atomic checkpoints (:mod:`mcm.runs.checkpoint`); in weights.safetensors
                                      the keys are prefixed by module: ``student.`` (LoRA), ``motion_head.`` (online
                                      head), ``motion_head_ema.`` (its EMA target), ``discriminator.`` (heads)
    RUN/final/                        the exported student (below)

An exported student folder (``RUN/final``): a PEFT adapter (``adapter_config.json`` +
``adapter_model.safetensors``) and ``mcm_config.yaml`` (the run's config: teacher, schedule, timestep scaling).

Format versions (``FORMAT_VERSION``; a run folder without ``run.json`` is version 1):
    1  issues 2-5
    2  issue 8: GradScaler state in the optimiser file, ``corr`` as scaled dot products, per-sample draws,
       ``optim.global_batch``; a run of another version cannot be resumed (its numbers would mean other things).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import torch
from safetensors.torch import load_file
from torch import nn

from mcm.runs.checkpoint import WEIGHTS, Checkpointer

FORMAT_VERSION = 2
LEGACY_FORMAT_VERSION = 1  # run folders written before run.json existed
RUN_INFO = "run.json"
RUN_CONFIG = "config.yaml"
FINAL_DIR = "final"
EXPORT_CONFIG = "mcm_config.yaml"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

STUDENT_PREFIX = "student."
MOTION_PREFIX = "motion_head."  # the online head (trained with the student)
MOTION_EMA_PREFIX = "motion_head_ema."  # its EMA target copy
DISCRIMINATOR_PREFIX = "discriminator."


class RunFormatError(ValueError):
    """A run folder written by another format version of mcm."""


def with_prefix(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {prefix + k: v for k, v in state.items()}


def strip_prefix(prefix: str, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of ``weights`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}


def is_run_folder(folder: str | Path) -> bool:
    return (Path(folder) / RUN_CONFIG).is_file()


def is_exported_student(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / EXPORT_CONFIG).is_file() and (folder / ADAPTER_CONFIG).is_file()


def format_version(folder: str | Path) -> int:
    """The format version a run folder was written with (1 when it predates ``run.json``)."""
    info = Path(folder) / RUN_INFO
    if not info.is_file():
        return LEGACY_FORMAT_VERSION
    return int(json.loads(info.read_text())["format_version"])


def write_run_info(folder: str | Path) -> None:
    Path(folder, RUN_INFO).write_text(json.dumps({"format_version": FORMAT_VERSION}, indent=2) + "\n")


def check_format(folder: str | Path, action: str) -> None:
    """Raise :class:`RunFormatError` naming both versions when ``folder`` is of another format version."""
    found = format_version(folder)
    if found != FORMAT_VERSION:
        raise RunFormatError(
            f"{action}: run folder {str(folder)!r} has format version {found}, this mcm reads and writes format "
            f"version {FORMAT_VERSION}; start a new --output folder (or use the mcm release that wrote it)"
        )


def latest_checkpoint(folder: str | Path) -> Optional[Path]:
    return Checkpointer(folder, keep_last=1).latest()


def newest_student_lora(folder: str | Path) -> dict[str, torch.Tensor]:
    """The student's LoRA (PEFT key names) of a run folder's newest checkpoint (error when there is none yet)."""
    latest = latest_checkpoint(folder)
    if latest is None:
        raise ValueError(f"run folder {str(folder)!r} has no complete checkpoint yet")
    return strip_prefix(STUDENT_PREFIX, load_file(str(latest / WEIGHTS)))


def student_lora_of_run(folder: str | Path) -> dict[str, torch.Tensor]:
    """The student's LoRA of a run folder: its ``final/`` adapter, else its newest checkpoint's."""
    final = Path(folder) / FINAL_DIR / ADAPTER_WEIGHTS
    return load_file(str(final)) if final.is_file() else newest_student_lora(folder)


def write_exported_student(network: nn.Module, config_yaml: str, folder: str | Path) -> Path:
    """``folder``: the PEFT adapter of ``network`` and the run's config (what :func:`load_student` reads)."""
    from mcm.student.lora import save_adapter_folder

    folder = Path(folder)
    save_adapter_folder(network, folder)
    (folder / EXPORT_CONFIG).write_text(config_yaml)
    return folder


# ------------------------------------------------------------------------------------------- runs/LATEST
#: File in a runs folder naming its newest run (``make pipeline-run`` and ``mcm distill`` write it).
LATEST = "LATEST"


def write_latest(run_folder: str | Path) -> Path:
    """Point ``<parent>/LATEST`` at ``run_folder`` (its name, relative to the parent), atomically."""
    run_folder = Path(run_folder)
    latest = run_folder.parent / LATEST
    tmp = latest.with_name(f".{LATEST}.tmp")
    tmp.write_text(run_folder.name + "\n")
    tmp.replace(latest)
    return latest


def resolve_run(path: str | Path) -> Path:
    """``runs/LATEST`` (a file naming a run folder beside it) -> that folder; any other path unchanged."""
    path = Path(path)
    if path.name != LATEST:
        return path
    if not path.is_file():
        raise ValueError(f"{path}: no run yet (run `make pipeline-run` or `mcm distill`, which write it)")
    name = path.read_text().strip()
    if not name:
        raise ValueError(f"{path} is empty: it should name a run folder beside it")
    return path.parent / name
