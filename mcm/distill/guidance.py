"""Guidance of the teacher during distillation (LCM form, Appendix C.2), and the two guidance-scale conventions.

Two conventions for one and the same guided prediction are in use, and they differ by one:

* LCM form (distillation, the authors' code, ``lcm_guidance``):   ``x = cond + w (cond - uncond)``
* standard classifier-free guidance (diffusers pipelines, ``cfg_guidance``, the teacher baselines, the
  ``guidance`` argument of ``mcm.sampler.api.build_video_generator`` and ``mcm sample --guidance``):
  ``x = uncond + g (cond - uncond)``

Expanding the second, ``uncond + g (cond - uncond) = cond + (g - 1)(cond - uncond)``, so

    g = w + 1        (``lcm_w_to_cfg_scale``)        w = g - 1        (``cfg_scale_to_lcm_w``)

``teacher.guidance_min`` / ``guidance_max`` are LCM-form w: during distillation the teacher's guided prediction
is ``cond + w (cond - uncond)``, applied to both x0 and eps, with ``w ~ U[w_min, w_max]`` per sample ([5, 15] for
ModelScopeT2V, [7, 8] for AnimateDiff). A teacher baseline that matches the distillation's mean guidance
therefore uses the standard CFG scale ``g = (w_min + w_max) / 2 + 1``. The student receives no w-embedding:
with a LoRA student the guidance is baked in.
"""

from __future__ import annotations

import torch

from mcm.distill.scalings import append_dims

# g - w: standard CFG's scale minus the LCM form's w for the same guided prediction (see the module docstring).
CFG_MINUS_LCM_W = 1.0


def lcm_w_to_cfg_scale(w: float) -> float:
    """Standard CFG scale g of the LCM-form scale w: ``g = w + 1`` (same guided prediction)."""
    return w + CFG_MINUS_LCM_W


def cfg_scale_to_lcm_w(g: float) -> float:
    """LCM-form scale w of the standard CFG scale g: ``w = g - 1`` (same guided prediction)."""
    return g - CFG_MINUS_LCM_W


def lcm_guidance(cond: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """LCM form: cond + w (cond - uncond) with per-sample w (B,)."""
    return cond + append_dims(w.to(cond.dtype), cond.ndim) * (cond - uncond)


def cfg_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Standard classifier-free guidance for teacher baselines: uncond + g (cond - uncond), g = ``scale``."""
    return uncond + scale * (cond - uncond)
