"""Boundary-condition scalings of the consistency function (Eq. 1).

f(x_t, t) = c_skip(t) x_t + c_out(t) F(x_t, t), with (sigma_data, timestep scaling s):
    c_skip(t) = sigma_data^2 / ((s t)^2 + sigma_data^2)
    c_out(t)  = s t / sqrt((s t)^2 + sigma_data^2)
so c_skip(0) = 1 and c_out(0) = 0. diffusers' LCMScheduler uses the same form; training and sampling must
share ``s`` (the authors' scripts use 4, the scheduler's default is 10).
"""

from __future__ import annotations

import torch


def boundary_scalings(
    t: torch.Tensor, timestep_scaling: float, sigma_data: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """c_skip(t), c_out(t) for integer timesteps ``t`` (any shape), in float32."""
    scaled = t.to(torch.float32) * timestep_scaling
    c_skip = sigma_data**2 / (scaled**2 + sigma_data**2)  # Eq. (1), c_skip
    c_out = scaled / (scaled**2 + sigma_data**2) ** 0.5  # Eq. (1), c_out
    return c_skip, c_out


def append_dims(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """Reshape a per-sample tensor (B,) to (B, 1, ..., 1) with ``ndim`` dimensions, for broadcasting."""
    if x.ndim > ndim:
        raise ValueError(f"append_dims: tensor has {x.ndim} dims, more than the target {ndim}")
    return x.reshape(x.shape + (1,) * (ndim - x.ndim))


def consistency_output(
    x_t: torch.Tensor, x0_pred: torch.Tensor, t: torch.Tensor, timestep_scaling: float, sigma_data: float
) -> torch.Tensor:
    """f(x_t, t) = c_skip(t) x_t + c_out(t) x0_pred  (Eq. 1), per-sample t of shape (B,)."""
    c_skip, c_out = boundary_scalings(t, timestep_scaling, sigma_data)
    return append_dims(c_skip, x_t.ndim) * x_t + append_dims(c_out, x_t.ndim) * x0_pred
