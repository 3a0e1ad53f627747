"""Teacher kinds by name -> builder. Add a teacher by registering a function TeacherConfig -> Teacher."""

from __future__ import annotations

from typing import Callable

from mcm.teachers.config import TeacherConfig
from mcm.teachers.animatediff import load_animatediff
from mcm.teachers.base import Teacher
from mcm.teachers.gaussian_mixture import build_gaussian_mixture_teacher
from mcm.teachers.modelscope import load_modelscope
from mcm.teachers.tiny import build_tiny_teacher
from mcm.utils.weights import weights_from

TEACHERS: dict[str, Callable[[TeacherConfig], Teacher]] = {
    "modelscope": load_modelscope,
    "animatediff": load_animatediff,
    "tiny_modelscope": build_tiny_teacher,
    "tiny_animatediff": build_tiny_teacher,
    "gaussian_mixture": build_gaussian_mixture_teacher,
}

#: Kinds whose weights come from ``teacher.path`` (a local folder or a hub id).
LOADED_FROM_PATH = ("modelscope", "animatediff")


def load_teacher(cfg: TeacherConfig) -> Teacher:
    """Build or load the teacher named by ``cfg.kind`` (weights frozen, on the CPU)."""
    if cfg.kind not in TEACHERS:
        raise ValueError(f"teacher.kind={cfg.kind!r} is not registered; choose one of {sorted(TEACHERS)}")
    if cfg.kind not in LOADED_FROM_PATH or not cfg.path:
        return TEACHERS[cfg.kind](cfg)
    with weights_from("teacher.path", str(cfg.path)):
        return TEACHERS[cfg.kind](cfg)
