"""Motion representations M(.) for motion consistency distillation (Eq. 6, Section 3.2).

Names are imported lazily (PEP 562), so the config schema can import ``MotionConfig`` without torch.
"""

from __future__ import annotations

import importlib

_SOURCES = {
    "MOTION_NAMES": "mcm.motion.config",
    "MotionConfig": "mcm.motion.config",
    "EMAMotionHead": "mcm.motion.head",
    "MotionHead": "mcm.motion.head",
    "collapse_statistic": "mcm.motion.head",
    "MOTION_REGISTRY": "mcm.motion.representations",
    "MotionRepresentation": "mcm.motion.representations",
    "build_motion_representation": "mcm.motion.representations",
    "frequency_component": "mcm.motion.representations",
    "global_correlation": "mcm.motion.representations",
    "latent_difference": "mcm.motion.representations",
    "local_correlation": "mcm.motion.representations",
    "register_motion_representation": "mcm.motion.representations",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name]), name)
    globals()[name] = value
    return value
