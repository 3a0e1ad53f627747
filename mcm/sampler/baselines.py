"""Teacher baselines: DDIM and DPM-Solver++ at any step count with standard classifier-free guidance.

Both use 'trailing' timestep spacing (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are
Flawed", Table 2): n steps over T training steps are ``round(T - k T / n) - 1`` for k = 0..n-1, so every step
count starts at t = T - 1 (999), on pure noise, as the student does. ('leading' spacing with steps_offset 1,
Stable Diffusion's setting, starts 1/2/4 steps at t = 1/501/751: an unfair baseline at few steps.)

DDIM: diffusers' ``DDIMScheduler.step`` goes to ``t - T // n``, which is the next timestep only for 'leading'
spacing; with 'trailing' spacing and n not dividing T (n = 3: 999, 666, 332; 999 - 333 = 666 but
666 - 333 = 333, not 332) it steps to a timestep the schedule does not contain.
:class:`TrailingDDIMScheduler` steps to the next entry of ``scheduler.timesteps`` instead and, after the last
one, to the clean end: abar_prev = 1 (``set_alpha_to_one``), so the last step returns the predicted x0.
"""

from __future__ import annotations

from typing import Optional

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput

from mcm.distill.guidance import cfg_guidance
from mcm.sampler.lcm import initial_latents
from mcm.student.lora import adapters_disabled
from mcm.teachers.base import Teacher

SCHEDULERS = ("ddim", "dpm++")
TIMESTEP_SPACING = "trailing"
DPM_SOLVER_ORDER = 2
# The "previous timestep" after the last one: the clean end of the trajectory (abar = final_alpha_cumprod = 1).
CLEAN_END = -1


class TrailingDDIMScheduler(DDIMScheduler):
    """Deterministic DDIM (eta = 0, epsilon prediction) whose step goes to the next entry of ``timesteps``.

    For x_t, eps at timestep t with previous timestep t' (the next entry of ``timesteps``; after the last entry
    the clean end, abar_{t'} = 1), DDIM (Song et al. 2021, Eq. 12 with sigma = 0):

        x0      = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
        x_{t'}  = sqrt(abar_{t'}) x0 + sqrt(1 - abar_{t'}) eps
    """

    def set_timesteps(self, num_inference_steps: int, device: Optional[str | torch.device] = None) -> None:
        super().set_timesteps(num_inference_steps, device=device)
        ts = self.timesteps.tolist()
        self._previous = dict(zip(ts, ts[1:] + [CLEAN_END]))

    def previous_timestep(self, timestep: int | torch.Tensor) -> int:
        """The timestep that the step from ``timestep`` goes to (``CLEAN_END`` = -1 after the last one)."""
        t = int(timestep)
        if t not in self._previous:
            raise ValueError(f"timestep={t} is not one of the scheduler's timesteps {list(self._previous)}")
        return self._previous[t]

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        eta: float = 0.0,
        use_clipped_model_output: bool = False,
        generator: torch.Generator | None = None,
        variance_noise: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> DDIMSchedulerOutput | tuple:
        """One DDIM step (eta = 0) from ``timestep`` to :meth:`previous_timestep` (class docstring)."""
        if eta != 0.0:
            raise ValueError(f"eta={eta}: TrailingDDIMScheduler is deterministic DDIM (eta = 0)")
        if self.config.prediction_type != "epsilon" or self.config.clip_sample or self.config.thresholding:
            raise ValueError("TrailingDDIMScheduler supports prediction_type='epsilon' without clipping/thresholding")
        t = int(timestep)
        prev = self.previous_timestep(t)
        abar_t = float(self.alphas_cumprod[t])
        abar_prev = float(self.alphas_cumprod[prev]) if prev != CLEAN_END else float(self.final_alpha_cumprod)
        x0 = (sample - (1 - abar_t) ** 0.5 * model_output) / abar_t**0.5
        prev_sample = abar_prev**0.5 * x0 + (1 - abar_prev) ** 0.5 * model_output
        if not return_dict:
            return prev_sample, x0
        return DDIMSchedulerOutput(prev_sample=prev_sample, pred_original_sample=x0)


def build_teacher_scheduler(teacher: Teacher, name: str):
    """DDIM (:class:`TrailingDDIMScheduler`) or DPM-Solver++ (2nd order) over the teacher's betas, trailing spacing."""
    s = teacher.schedule
    common = dict(
        num_train_timesteps=s["num_train_timesteps"],
        beta_start=s["beta_start"],
        beta_end=s["beta_end"],
        beta_schedule=s["beta_schedule"],
        prediction_type="epsilon",
        timestep_spacing=TIMESTEP_SPACING,
    )
    if name == "ddim":
        return TrailingDDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True, steps_offset=0)
    if name == "dpm++":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=DPM_SOLVER_ORDER)
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
    """Latents (B, C, F, h, w) from the teacher (adapters disabled) with standard CFG scale ``guidance`` = g in
    ``uncond + g (cond - uncond)`` (g = w + 1 of the distillation's LCM form, see ``mcm.distill.guidance``)."""
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
