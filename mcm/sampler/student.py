"""Loading a distilled student: from a run folder (its newest checkpoint) or an exported student folder.

A run folder holds ``config.yaml`` (the resolved configuration) and ``checkpoints/``; an exported student
folder (``RUN/final``) holds ``mcm_config.yaml`` and a PEFT adapter (``adapter_config.json`` +
``adapter_model.safetensors``). Either way the teacher is rebuilt from the recorded config (tiny teachers
are seeded, real ones reloaded from their path), so schedule and timestep scaling match training.
"""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from mcm.config.load import load_config
from mcm.config.schema import MCMConfig
from mcm.student.lora import ADAPTER_CONFIG, add_lora, load_adapter_folder, load_lora_state_dict
from mcm.teachers.base import Teacher
from mcm.teachers.registry import load_teacher
from mcm.trainer.checkpoint import WEIGHTS, Checkpointer

RUN_CONFIG = "config.yaml"
EXPORT_CONFIG = "mcm_config.yaml"
STUDENT_PREFIX = "student."


def load_student(folder: str | Path) -> tuple[Teacher, MCMConfig]:
    """(teacher with the student's LoRA loaded and enabled, config) from a run or exported folder."""
    folder = Path(folder)
    if (folder / EXPORT_CONFIG).is_file() and (folder / ADAPTER_CONFIG).is_file():
        cfg = load_config(str(folder / EXPORT_CONFIG))
        teacher = load_teacher(cfg.teacher)
        load_adapter_folder(teacher.network, folder)
        return teacher, cfg
    if (folder / RUN_CONFIG).is_file():
        cfg = load_config(str(folder / RUN_CONFIG))
        latest = Checkpointer(folder, keep_last=1).latest()
        if latest is None:
            raise ValueError(f"--checkpoint {folder}: the run folder has no complete checkpoint yet")
        teacher = load_teacher(cfg.teacher)
        add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=cfg.train.seed)
        weights = load_file(str(latest / WEIGHTS))
        lora = {k[len(STUDENT_PREFIX) :]: v for k, v in weights.items() if k.startswith(STUDENT_PREFIX)}
        load_lora_state_dict(teacher.network, lora)
        teacher.network.requires_grad_(False)
        return teacher, cfg
    raise ValueError(
        f"--checkpoint {folder}: neither a run folder ({RUN_CONFIG} + checkpoints/) "
        f"nor an exported student ({EXPORT_CONFIG} + {ADAPTER_CONFIG})"
    )
