"""Few-step sampling of the distilled student with diffusers' LCMScheduler (multistep consistency sampling).

The scheduler is built from the teacher's betas with the *training* timestep scaling and skip grid, so the
boundary scalings at sampling equal those the student was trained with (Eq. 1). With LoRA the student gets
no guidance input: the guidance was baked in by distillation, so one forward per step.
"""

from __future__ import annotations

import torch
from diffusers import LCMScheduler

from mcm.config.schema import DistillConfig
from mcm.teachers.base import Teacher


def initial_latents(
    initial_noise: torch.Tensor | None, generator: torch.Generator | list[torch.Generator], shape: tuple[int, ...]
) -> torch.Tensor:
    """The given initial noise, or a draw of ``shape`` from one generator."""
    if initial_noise is not None:
        return initial_noise
    if isinstance(generator, list):
        raise ValueError("pass initial_noise when giving one generator per sample")
    return torch.randn(shape, generator=generator)


def build_lcm_scheduler(teacher: Teacher, distill: DistillConfig) -> LCMScheduler:
    s = teacher.schedule
    return LCMScheduler(
        num_train_timesteps=s["num_train_timesteps"],
        beta_start=s["beta_start"],
        beta_end=s["beta_end"],
        beta_schedule=s["beta_schedule"],
        original_inference_steps=distill.num_ddim_timesteps,
        timestep_scaling=distill.timestep_scaling,
        prediction_type="epsilon",
        set_alpha_to_one=True,
        clip_sample=False,
    )


@torch.inference_mode()
def sample_student_latents(
    teacher: Teacher,
    distill: DistillConfig,
    text: torch.Tensor,
    latent_shape: tuple[int, ...],
    steps: int,
    generator: torch.Generator | list[torch.Generator],
    initial_noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latents (B, C, F, h, w) from ``steps`` (1-8) student evaluations; ``latent_shape`` excludes the batch."""
    if not 1 <= steps <= 8:
        raise ValueError(f"steps={steps}: the student samples with 1 to 8 steps")
    scheduler = build_lcm_scheduler(teacher, distill)
    scheduler.set_timesteps(steps, device=teacher.device)
    b = text.shape[0]
    x = initial_latents(initial_noise, generator, (b, *latent_shape))
    x = x.to(teacher.device)
    denoised = x
    for t in scheduler.timesteps:
        eps = teacher.predict_noise(x, t.expand(b), text)
        x, denoised = scheduler.step(eps, t, x, generator=generator, return_dict=False)
    return denoised
