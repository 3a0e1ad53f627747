"""Loading a distilled student: from a run folder (its newest checkpoint) or an exported student folder.

The layouts are those of :mod:`mcm.runs.folder` (shared with the trainer, so sampling never imports it).
Either way the teacher is rebuilt from the recorded config (tiny teachers are seeded, real ones reloaded from
their path), so schedule and timestep scaling match training.
"""

from __future__ import annotations

from pathlib import Path

from mcm.config.load import load_config
from mcm.config.schema import MCMConfig
from mcm.runs.folder import (
    ADAPTER_CONFIG,
    EXPORT_CONFIG,
    RUN_CONFIG,
    check_format,
    is_exported_student,
    is_run_folder,
    newest_student_lora,
    resolve_run,
)
from mcm.student.lora import add_lora, load_adapter_folder, load_lora_state_dict
from mcm.teachers.base import Teacher
from mcm.teachers.registry import load_teacher


def student_config(folder: str | Path) -> MCMConfig:
    """The recorded config of a run or exported student folder (or a ``runs/LATEST`` file), without weights; a
    run folder of another format version is refused (:func:`mcm.runs.folder.check_format`)."""
    folder = resolve_run(folder)
    if is_exported_student(folder):
        return load_config(str(folder / EXPORT_CONFIG))
    if is_run_folder(folder):
        check_format(folder, f"--checkpoint {folder}")
        return load_config(str(folder / RUN_CONFIG))
    raise ValueError(
        f"--checkpoint {folder}: neither a run folder ({RUN_CONFIG} + checkpoints/) "
        f"nor an exported student ({EXPORT_CONFIG} + {ADAPTER_CONFIG})"
    )


def load_student(folder: str | Path) -> tuple[Teacher, MCMConfig]:
    """(teacher with the student's LoRA loaded and enabled, config) from a run or exported folder (or a
    ``runs/LATEST`` file naming a run)."""
    folder = resolve_run(folder)
    cfg = student_config(folder)
    exported = is_exported_student(folder)
    lora = None if exported else newest_student_lora(folder)  # a run without a checkpoint fails before any load
    teacher = load_teacher(cfg.teacher)
    if exported:
        load_adapter_folder(teacher.network, folder)
        return teacher, cfg
    add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=cfg.train.seed)
    load_lora_state_dict(teacher.network, lora)
    teacher.network.requires_grad_(False)
    return teacher, cfg
