"""Motion representations M(.) for motion consistency distillation (Eq. 6, Section 3.2)."""

from mcm.motion.config import MOTION_NAMES, MotionConfig
from mcm.motion.head import EMAMotionHead, MotionHead, collapse_statistic
from mcm.motion.representations import (
    MOTION_REGISTRY,
    MotionRepresentation,
    build_motion_representation,
    frequency_component,
    global_correlation,
    latent_difference,
    local_correlation,
    register_motion_representation,
)

__all__ = [
    "MOTION_NAMES",
    "MOTION_REGISTRY",
    "EMAMotionHead",
    "MotionConfig",
    "MotionHead",
    "MotionRepresentation",
    "build_motion_representation",
    "collapse_statistic",
    "frequency_component",
    "global_correlation",
    "latent_difference",
    "local_correlation",
    "register_motion_representation",
]
