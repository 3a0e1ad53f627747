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
ranks sees the same t, eps and w for the same sample (``mcm.distill.draws``). The no-grad passes run with the
network in eval mode (deterministic: no dropout), the student's pass in the mode the trainer set.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn

from mcm.distill.config import DistillConfig
from mcm.distill.draws import StepNoise
from mcm.motion.representations import MotionRepresentation, RawMotion
from mcm.distill.guidance import lcm_guidance
from mcm.distill.losses import consistency_distance
from mcm.distill.scalings import append_dims, consistency_output
from mcm.distill.solver import DDIMSolver
from mcm.student.lora import adapters_disabled
from mcm.teachers.base import Teacher


@contextmanager
def eval_mode(network: nn.Module) -> Iterator[None]:
    """Within this block ``network`` is in eval mode (dropout off), then back in the mode it was in.

    The no-grad passes (teacher, target, one-step sample) must be deterministic: diffusers' UNet3D blocks
    carry ``TemporalConvLayer(dropout=0.1)``, exactly in the temporal layers that carry motion. The student's
    own pass keeps the training mode (the authors' dropout; the UNet3D block checkpointing also only runs in
    training mode)."""
    was_training = network.training
    network.eval()
    try:
        yield
    finally:
        network.train(was_training)


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
    def no_grad_consistency_fn(self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """f(x_t, t) without gradients, deterministic (eval mode): the target and the one-step sample."""
        with eval_mode(self.teacher.network):
            return self.consistency_fn(x_t, t, text)

    @torch.no_grad()
    def teacher_solver_step(
        self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor, w: torch.Tensor
    ) -> torch.Tensor:
        """x_{t-s} = DDIM(x_t; guided teacher)   (Eq. 2)."""
        with adapters_disabled(self.teacher.network), eval_mode(self.teacher.network):
            eps_c, eps_u = self.teacher.guided_noise(x_t, t, text, uncond)
        eps_c, eps_u = eps_c.to(x_t.dtype), eps_u.to(x_t.dtype)
        x0_c = self.solver.predicted_x0(x_t, eps_c, t)
        x0_u = self.solver.predicted_x0(x_t, eps_u, t)
        x0 = lcm_guidance(x0_c, x0_u, w)
        eps = lcm_guidance(eps_c, eps_u, w)
        return self.solver.step(x0, eps, self.solver.previous_timestep(t))

    @torch.no_grad()
    def target(self, x_prev: torch.Tensor, t_prev: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """f_theta-(x_{t-s}, t - s): the same network under no_grad (LoRA: no EMA copy), deterministic."""
        return self.no_grad_consistency_fn(x_prev, t_prev, text)

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
