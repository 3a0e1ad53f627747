"""One (motion) consistency-distillation step (Eq. 1-3, 6), as a pure function of its inputs.

    1. draw t = t_n on the skip grid, x_t = alpha_t x0 + sigma_t eps (pure noise at the top index)
    2. teacher (adapters off, no grad): guided eps/x0 at t with w ~ U[w_min, w_max]     (LCM guidance)
    3. DDIM step to t - T/N                                                             (Eq. 2)
    4. target (adapters on, no grad, no EMA with LoRA): f(x_{t-s}, t - s), then M_ema(.) (Eq. 1, 6)
    5. student (adapters on, with grad): f(x_t, t)                                      (Eq. 1)
    6. loss d(M(f_student), M_ema(f_target))                                            (Eq. 6; M = raw: Eq. 3)

M(.) is the motion representation (``mcm.motion``; ``raw`` = identity = LCM); its target branch goes through
the EMA head, its student branch through the online head with gradients. The adversarial loss (Eq. 4) is
computed from ``StepOutput.student_x0``, the raw student prediction, never M's output (see
``mcm.distill.adversarial``). With mixed trajectories (Eq. 7-9) the caller replaces ``latents`` by the
one-step student sample before calling :meth:`ConsistencyDistillation.loss` (``mcm.trajectories.mixed``).

The no-grad passes run first, so their activations are freed before the student's graph is built: peak
memory is the student's forward+backward plus a few latents. Randomness comes in as tensors
(:class:`StepNoise`), drawn per *global* micro-batch from (seed, update, micro-batch), so a run on any number of
ranks sees the same t, eps and w for the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch
from torch import nn

from mcm.config.schema import DistillConfig, TeacherConfig
from mcm.discriminator.sparse_frames import sample_frame_indices
from mcm.motion.representations import MotionRepresentation, RawMotion
from mcm.distill.guidance import lcm_guidance, sample_guidance_scale
from mcm.distill.losses import consistency_distance
from mcm.distill.scalings import append_dims, consistency_output
from mcm.distill.solver import DDIMSolver
from mcm.student.lora import adapters_disabled
from mcm.teachers.base import Teacher


AUG_SEED_RANGE = 2**62


@dataclass
class StepNoise:
    """The random draws of one micro-batch: grid index (B,), noise like the latents (B, C, F, h, w),
    guidance w (B,); for MCM also the mixed-trajectory coin ``generated`` (one per global micro-batch, so
    the same on every rank) with the pure noise z of its one-step sample (B, C, F, h, w), the sparse frame
    indices (B, l) and one augmentation seed per video (B,) for the discriminator."""

    index: torch.Tensor
    noise: torch.Tensor
    w: torch.Tensor
    generated: bool = False
    start_noise: Optional[torch.Tensor] = None
    frames: Optional[torch.Tensor] = None
    aug_seeds: Optional[torch.Tensor] = None

    def slice(self, start: int, stop: int) -> "StepNoise":
        cut = lambda x: None if x is None else x[start:stop]  # noqa: E731
        return StepNoise(cut(self.index), cut(self.noise), cut(self.w), self.generated, cut(self.start_noise),
                         cut(self.frames), cut(self.aug_seeds))

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> "StepNoise":
        move = lambda x, *a: None if x is None else x.to(device, *a)  # noqa: E731
        return StepNoise(self.index.to(device), self.noise.to(device, dtype), self.w.to(device), self.generated,
                         move(self.start_noise, dtype), move(self.frames), self.aug_seeds)


def draw_step_noise(
    generator: torch.Generator,
    batch: int,
    latent_shape: tuple[int, ...],
    num_ddim_timesteps: int,
    teacher_cfg: TeacherConfig,
    lambda_real: float = 1.0,
    sparse_frames: int = 0,
    frame_sampling: str = "random",
) -> StepNoise:
    """Draw the randomness of a (global) micro-batch on the CPU from ``generator``.

    The LCM draws come first, so an LCM run (``lambda_real=1``, ``sparse_frames=0``) draws exactly them; the
    mixed-trajectory coin (Eq. 9) is drawn only when ``lambda_real < 1`` and the frame indices only when
    ``sparse_frames > 0`` (latent_shape is (C, F, h, w))."""
    from mcm.trajectories.mixed import draw_generated

    index = torch.randint(0, num_ddim_timesteps, (batch,), generator=generator)
    noise = torch.randn((batch, *latent_shape), generator=generator)
    w = sample_guidance_scale(batch, teacher_cfg.guidance_min, teacher_cfg.guidance_max, generator)
    out = StepNoise(index=index, noise=noise, w=w)
    if draw_generated(generator, lambda_real):
        out = replace(out, generated=True, start_noise=torch.randn((batch, *latent_shape), generator=generator))
    if sparse_frames > 0:
        frames = sample_frame_indices(batch, latent_shape[1], sparse_frames, generator, frame_sampling)
        seeds = torch.randint(0, AUG_SEED_RANGE, (batch,), generator=generator)
        out = replace(out, frames=frames, aug_seeds=seeds)
    return out


@dataclass
class StepOutput:
    loss: torch.Tensor  # the MCD loss of Eq. 6 (Eq. 3 with M = raw)
    student_x0: torch.Tensor  # f_theta(x_t, t), the raw student prediction (B, C, F, h, w)
    target_x0: torch.Tensor  # f_theta-(x_{t-s}, t - s), no grad
    t: torch.Tensor
    collapse: Optional[torch.Tensor] = None  # output/input variance ratio of the learnable head (None otherwise)


class ConsistencyDistillation:
    """Eq. (1)-(3) and (6) over a :class:`Teacher` whose network carries the student's LoRA.

    ``motion``: M(.) of Eq. (6) (default ``raw``: the LCM loss of Eq. 3)."""

    def __init__(self, teacher: Teacher, cfg: DistillConfig, motion: Optional[MotionRepresentation] = None):
        self.teacher = teacher
        self.cfg = cfg
        self.motion = motion if motion is not None else RawMotion()
        self.solver = DDIMSolver(teacher.alphas_cumprod, cfg.num_ddim_timesteps)

    def to(self, device: torch.device | str) -> "ConsistencyDistillation":
        self.solver.to(device)
        self.motion.to(device)
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
        """The MCD loss of Eq. (6) (Eq. 3 for M = raw) for latents (B, C, F, h, w) and text (B, L, D).

        ``student_network``: the (possibly DDP-wrapped) network that carries gradients; the no-grad passes use
        the bare ``teacher.network``. Every no-grad pass (teacher, target, M_ema) runs before the student's."""
        # 1.-3. start point, guided teacher DDIM step (no grad)
        x_t, t = self.noisy_start(latents, noise.noise, noise.index)
        w = noise.w.to(latents.dtype)
        x_prev = self.teacher_solver_step(x_t, t, text, uncond, w)
        t_prev = self.solver.previous_timestep(t)
        # 4. target f(x_{t-s}, t-s) and its motion representation through the EMA head (no grad)
        target = self.target(x_prev, t_prev, text)
        with torch.no_grad():
            target_m = self.motion(target, target=True)
        # 5. student f(x_t, t) with gradients, M through the online head
        student = self.consistency_fn(x_t, t, text, student_network)
        student_m = self.motion(student)
        # 6. d(M(student), M_ema(target))   (Eq. 6)
        loss = consistency_distance(self.cfg.distance, student_m, target_m, self.cfg.huber_c)
        collapse = self.motion.collapse_statistic(student.detach())
        return StepOutput(loss=loss, student_x0=student, target_x0=target, t=t, collapse=collapse)
