"""The DDIM solver Phi on the 50-step skip grid (Eq. 2), for epsilon-prediction teachers.

The grid over T = 1000 training steps with N = 50 is t_n = (n + 1) * T / N - 1: 19, 39, ..., 999; one solver
step goes from t_n to t_n - T/N (clamped at 0). The same grid gives the teacher's 50-step DDIM sampler.
"""

from __future__ import annotations

import torch

from mcm.distill.scalings import append_dims


class DDIMSolver:
    """DDIM (eta = 0) on a skip grid of ``num_ddim_timesteps`` over ``alphas_cumprod`` (T,)."""

    def __init__(self, alphas_cumprod: torch.Tensor, num_ddim_timesteps: int = 50):
        num_train = alphas_cumprod.shape[0]
        if not 1 <= num_ddim_timesteps <= num_train:
            raise ValueError(
                f"num_ddim_timesteps={num_ddim_timesteps} must lie in [1, {num_train}] (the teacher's timesteps)"
            )
        self.alphas_cumprod = alphas_cumprod.to(torch.float64)
        self.step_size = num_train // num_ddim_timesteps
        self.timesteps = (torch.arange(1, num_ddim_timesteps + 1) * self.step_size - 1).long()  # 19, ..., 999
        self.num_ddim_timesteps = num_ddim_timesteps

    def to(self, device: torch.device | str) -> "DDIMSolver":
        self.alphas_cumprod = self.alphas_cumprod.to(device)
        self.timesteps = self.timesteps.to(device)
        return self

    def previous_timestep(self, t: torch.Tensor) -> torch.Tensor:
        """t - T/N, clamped at 0."""
        return (t - self.step_size).clamp(min=0)

    def alpha_sigma(self, t: torch.Tensor, ndim: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t), shaped for broadcasting over ``ndim`` dims."""
        abar = self.alphas_cumprod[t]
        return append_dims(abar.sqrt().to(dtype), ndim), append_dims((1 - abar).sqrt().to(dtype), ndim)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = alpha_t x0 + sigma_t eps (Section 2)."""
        a, s = self.alpha_sigma(t, x0.ndim, x0.dtype)
        return a * x0 + s * noise

    def predicted_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0 = (x_t - sigma_t eps) / alpha_t for an epsilon prediction."""
        a, s = self.alpha_sigma(t, x_t.ndim, x_t.dtype)
        return (x_t - s * eps) / a

    def step(self, x0: torch.Tensor, eps: torch.Tensor, t_prev: torch.Tensor) -> torch.Tensor:
        """One DDIM step to t_prev from the (guided) x0 and eps predictions (Eq. 2)."""
        a, s = self.alpha_sigma(t_prev, x0.ndim, x0.dtype)
        return a * x0 + s * eps
