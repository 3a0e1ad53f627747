"""One consistency-distillation step (Eq. 1-3), as a pure function of its inputs.

    1. draw t = t_n on the skip grid, x_t = alpha_t x0 + sigma_t eps (pure noise at the top index)
    2. teacher (adapters off, no grad): guided eps/x0 at t with w ~ U[w_min, w_max]     (LCM guidance)
    3. DDIM step to t - T/N                                                             (Eq. 2)
    4. target (adapters on, no grad, no EMA with LoRA): f(x_{t-s}, t - s)               (Eq. 1)
    5. student (adapters on, with grad): f(x_t, t)                                      (Eq. 1)
    6. loss d(f_student, f_target)                                                      (Eq. 3)

The no-grad passes run first, so their activations are freed before the student's graph is built: peak
memory is the student's forward+backward plus a few latents. Randomness comes in as tensors
(:class:`StepNoise`), drawn per *global* micro-batch from (seed, update, micro-batch), so a run on any number of
ranks sees the same t, eps and w for the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mcm.config.schema import DistillConfig, TeacherConfig
from mcm.distill.guidance import lcm_guidance, sample_guidance_scale
from mcm.distill.losses import consistency_distance
from mcm.distill.scalings import append_dims, consistency_output
from mcm.distill.solver import DDIMSolver
from mcm.student.lora import adapters_disabled
from mcm.teachers.base import Teacher


@dataclass
class StepNoise:
    """The random draws of one micro-batch: grid index (B,), noise like the latents, guidance w (B,)."""

    index: torch.Tensor
    noise: torch.Tensor
    w: torch.Tensor

    def slice(self, start: int, stop: int) -> "StepNoise":
        return StepNoise(self.index[start:stop], self.noise[start:stop], self.w[start:stop])

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> "StepNoise":
        return StepNoise(self.index.to(device), self.noise.to(device, dtype), self.w.to(device))


def draw_step_noise(
    generator: torch.Generator,
    batch: int,
    latent_shape: tuple[int, ...],
    num_ddim_timesteps: int,
    teacher_cfg: TeacherConfig,
) -> StepNoise:
    """Draw the randomness of a (global) micro-batch on the CPU from ``generator``."""
    index = torch.randint(0, num_ddim_timesteps, (batch,), generator=generator)
    noise = torch.randn((batch, *latent_shape), generator=generator)
    w = sample_guidance_scale(batch, teacher_cfg.guidance_min, teacher_cfg.guidance_max, generator)
    return StepNoise(index=index, noise=noise, w=w)


@dataclass
class StepOutput:
    loss: torch.Tensor
    student_x0: torch.Tensor  # f_theta(x_t, t), the raw student prediction (B, C, F, h, w)
    target_x0: torch.Tensor  # f_theta-(x_{t-s}, t - s), no grad
    t: torch.Tensor


class ConsistencyDistillation:
    """Eq. (1)-(3) over a :class:`Teacher` whose network carries the student's LoRA."""

    def __init__(self, teacher: Teacher, cfg: DistillConfig):
        self.teacher = teacher
        self.cfg = cfg
        self.solver = DDIMSolver(teacher.alphas_cumprod, cfg.num_ddim_timesteps)

    def to(self, device: torch.device | str) -> "ConsistencyDistillation":
        self.solver.to(device)
        return self

    def noisy_start(self, x0: torch.Tensor, noise: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t, t) for grid indices; pure noise where the index is the top one (method notes)."""
        t = self.solver.timesteps[index]
        x_t = self.solver.add_noise(x0, noise, t)
        if self.cfg.pure_noise_at_top:
            top = append_dims(index == self.cfg.num_ddim_timesteps - 1, x_t.ndim)
            x_t = torch.where(top, noise, x_t)
        return x_t, t

    def consistency_fn(
        self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, network: nn.Module | None = None
    ) -> torch.Tensor:
        """f(x_t, t) = c_skip x_t + c_out x0(eps_theta)   (Eq. 1)."""
        eps = self.teacher.predict_noise(x_t, t, text, network)
        x0 = self.solver.predicted_x0(x_t, eps.to(x_t.dtype), t)
        return consistency_output(x_t, x0, t, self.cfg.timestep_scaling, self.cfg.sigma_data)

    @torch.no_grad()
    def teacher_solver_step(
        self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor
    ) -> torch.Tensor:
        """x_{t-s} = DDIM(x_t; guided teacher)   (Eq. 2)."""
        with adapters_disabled(self.teacher.network):
            eps_c, eps_u = self.teacher.guided_noise(x_t, t, text, uncond)
        eps_c, eps_u = eps_c.to(x_t.dtype), eps_u.to(x_t.dtype)
        x0_c = self.solver.predicted_x0(x_t, eps_c, t)
        x0_u = self.solver.predicted_x0(x_t, eps_u, t)
        x0 = lcm_guidance(x0_c, x0_u, w)
        eps = lcm_guidance(eps_c, eps_u, w)
        return self.solver.step(x0, eps, self.solver.previous_timestep(t))

    @torch.no_grad()
    def target(self, x_prev: torch.Tensor, t_prev: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """f_theta-(x_{t-s}, t - s): the same network under no_grad (LoRA: no EMA copy)."""
        return self.consistency_fn(x_prev, t_prev, text)

    def loss(
        self,
        latents: torch.Tensor,
        text: torch.Tensor,
        uncond: torch.Tensor,
        noise: StepNoise,
        student_network: nn.Module | None = None,
    ) -> StepOutput:
        """The consistency-distillation loss of Eq. (3) for latents (B, C, F, h, w) and text (B, L, D).

        ``student_network``: the (possibly DDP-wrapped) network that carries gradients; the no-grad passes use
        the bare ``teacher.network``."""
        x_t, t = self.noisy_start(latents, noise.noise, noise.index)
        w = noise.w.to(latents.dtype)
        x_prev = self.teacher_solver_step(x_t, t, text, uncond, w)
        t_prev = self.solver.previous_timestep(t)
        target = self.target(x_prev, t_prev, text)
        student = self.consistency_fn(x_t, t, text, student_network)
        loss = consistency_distance(self.cfg.distance, student, target, self.cfg.huber_c)  # Eq. (3)
        return StepOutput(loss=loss, student_x0=student, target_x0=target, t=t)
