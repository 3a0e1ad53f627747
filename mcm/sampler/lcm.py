"""Few-step sampling of the distilled student with diffusers' LCMScheduler (multistep consistency sampling).

The scheduler is built from the teacher's betas with the *training* timestep scaling and skip grid, so the
boundary scalings at sampling equal those the student was trained with (Eq. 1). With LoRA the student gets
no guidance input: the guidance was baked in by distillation, so one forward per step.

sigma_data: diffusers' ``LCMScheduler.get_scalings_for_boundary_condition_discrete`` hard-codes
sigma_data = 0.5. With ``distill.sigma_data`` = 0.5 (the default) the stock scheduler is used, so a scheduler
config written from it stays loadable by stock diffusers. Any other value gets :class:`SigmaDataLCMScheduler`,
a subclass whose scalings use the configured sigma_data (registered in its config, so ``from_config``
round-trips it); stock diffusers cannot load that config by class name, which is the honest outcome: the stock
scheduler would sample with the wrong scalings.
"""

from __future__ import annotations

import inspect

import torch
from diffusers import LCMScheduler
from diffusers.configuration_utils import register_to_config

from mcm.distill.config import DistillConfig
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


# The sigma_data that diffusers' LCMScheduler hard-codes in its boundary scalings.
STOCK_LCM_SIGMA_DATA = 0.5


class SigmaDataLCMScheduler(LCMScheduler):
    """LCMScheduler whose boundary scalings (Eq. 1) use a configurable ``sigma_data``:

        c_skip(t) = sigma_data^2 / ((s t)^2 + sigma_data^2),   c_out(t) = s t / sqrt((s t)^2 + sigma_data^2)

    as ``mcm.distill.scalings.boundary_scalings`` computes them in training."""

    def __init__(self, sigma_data: float = STOCK_LCM_SIGMA_DATA, **kwargs):
        if sigma_data <= 0:
            raise ValueError(f"sigma_data={sigma_data} must be > 0 (distill.sigma_data)")
        super().__init__(**kwargs)

    # diffusers reads a scheduler's config keys from its __init__ signature (register_to_config, from_config):
    # advertise LCMScheduler's parameters plus sigma_data, so that every key is registered and round-trips.
    __init__.__signature__ = inspect.signature(LCMScheduler.__init__).replace(
        parameters=[
            *inspect.signature(LCMScheduler.__init__).parameters.values(),
            inspect.Parameter("sigma_data", inspect.Parameter.KEYWORD_ONLY, default=STOCK_LCM_SIGMA_DATA),
        ]
    )
    __init__ = register_to_config(__init__)

    def get_scalings_for_boundary_condition_discrete(self, timestep):
        sigma_data = self.config.sigma_data
        scaled_timestep = timestep * self.config.timestep_scaling
        c_skip = sigma_data**2 / (scaled_timestep**2 + sigma_data**2)  # Eq. (1), c_skip
        c_out = scaled_timestep / (scaled_timestep**2 + sigma_data**2) ** 0.5  # Eq. (1), c_out
        return c_skip, c_out


def build_lcm_scheduler(teacher: Teacher, distill: DistillConfig) -> LCMScheduler:
    """The student's scheduler: the teacher's betas, the training skip grid, timestep scaling and sigma_data.

    The stock ``LCMScheduler`` when ``distill.sigma_data`` is diffusers' 0.5, else :class:`SigmaDataLCMScheduler`."""
    s = teacher.schedule
    settings = dict(
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
    if distill.sigma_data == STOCK_LCM_SIGMA_DATA:
        return LCMScheduler(**settings)
    return SigmaDataLCMScheduler(sigma_data=distill.sigma_data, **settings)


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
