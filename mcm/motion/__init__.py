"""Motion representations M(.) for motion consistency distillation (Eq. 6, Section 3.2).

Names are imported lazily (PEP 562), so the config schema can import ``MotionConfig`` without torch.
"""

from __future__ import annotations

from mcm.utils.lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _SOURCES, globals())
