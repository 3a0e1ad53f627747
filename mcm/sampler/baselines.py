"""Teacher baselines: DDIM and DPM-Solver++ at any step count with standard classifier-free guidance."""

from __future__ import annotations

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from mcm.distill.guidance import cfg_guidance
from mcm.sampler.lcm import initial_latents
from mcm.student.lora import adapters_disabled
from mcm.teachers.base import Teacher

SCHEDULERS = ("ddim", "dpm++")


def build_teacher_scheduler(teacher: Teacher, name: str):
    s = teacher.schedule
    common = dict(
        num_train_timesteps=s["num_train_timesteps"],
        beta_start=s["beta_start"],
        beta_end=s["beta_end"],
        beta_schedule=s["beta_schedule"],
        prediction_type="epsilon",
    )
    if name == "ddim":
        # 'leading' spacing with offset 1 (SD's setting): DDIMScheduler.step's t - T//n is right for it.
        return DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    if name == "dpm++":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2)
    raise ValueError(f"scheduler={name!r} is not a teacher baseline; choose one of {SCHEDULERS}")


@torch.inference_mode()
def sample_teacher_latents(
    teacher: Teacher,
    scheduler_name: str,
    text: torch.Tensor,
    uncond: torch.Tensor,
    latent_shape: tuple[int, ...],
    steps: int,
    guidance: float,
    generator: torch.Generator | list[torch.Generator],
    initial_noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latents (B, C, F, h, w) from the teacher (adapters disabled) with CFG scale ``guidance``."""
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    scheduler = build_teacher_scheduler(teacher, scheduler_name)
    scheduler.set_timesteps(steps, device=teacher.device)
    b = text.shape[0]
    x = initial_latents(initial_noise, generator, (b, *latent_shape)).to(teacher.device) * scheduler.init_noise_sigma
    with adapters_disabled(teacher.network):
        for t in scheduler.timesteps:
            tt = t.expand(b)
            eps_c, eps_u = teacher.guided_noise(x, tt, text, uncond)
            eps = cfg_guidance(eps_c, eps_u, guidance)
            x = scheduler.step(eps, t, x, return_dict=False)[0]
    return x
