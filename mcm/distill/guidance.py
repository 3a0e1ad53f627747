"""Guidance of the teacher during distillation (LCM form, Appendix C.2).

The teacher's guided prediction is ``cond + w (cond - uncond)``, applied to both x0 and eps, with
``w ~ U[w_min, w_max]`` per sample ([5, 15] for ModelScopeT2V, [7, 8] for AnimateDiff). The student
receives no w-embedding: with a LoRA student the guidance is baked in.
"""

from __future__ import annotations

import torch

from mcm.distill.scalings import append_dims


def sample_guidance_scale(
    batch: int, w_min: float, w_max: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """w ~ U[w_min, w_max], shape (B,), float32 on the CPU (move it with the batch)."""
    u = torch.rand(batch, generator=generator)
    return w_min + (w_max - w_min) * u


def lcm_guidance(cond: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """cond + w (cond - uncond) with per-sample w (B,)."""
    return cond + append_dims(w.to(cond.dtype), cond.ndim) * (cond - uncond)


def cfg_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Standard classifier-free guidance for teacher baselines: uncond + g (cond - uncond)."""
    return uncond + scale * (cond - uncond)
