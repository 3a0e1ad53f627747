"""Mixed trajectory distillation (Eq. 7-9, Section 3.3).

Plain consistency distillation starts every trajectory at a real video x0 ~ V (Eq. 7, ``real``). MCM also
distills along trajectories that start at the student's own one-step sample from pure noise (Eq. 8,
``generated``), so that the student sees at training time what it sees at inference:

    with probability lambda_real:      x0 = E(video)                          real trajectory
    with probability 1 - lambda_real:  x0 = f_theta(z, T), z ~ N(0, I)        generated trajectory (no grad)
    then x_t = alpha_t x0 + sigma_t eps at the drawn t, and both the MCD loss (Eq. 6) and the adversarial
    loss (Eq. 4) apply from there                                            L = Eq. 9

The coin is drawn once per *global* micro-batch from the step's generator (seeded by (seed, update,
micro-batch), see ``Trainer.step_noise``), so every rank takes the same branch and a run on N ranks equals one
on 1 process. ``lambda_real = 1`` never draws and never calls the one-step sampler (the LCM / "+ MCD" rows);
``lambda_real = 0`` is all generated (Table 6). Which captions condition the generated branch is
``mixed.captions`` (the image set's, as the authors; or the video batch's).

Shapes: latents and noise (B, C, F, h, w); text states (B, L, D).
"""

from __future__ import annotations

import torch

from mcm.distill.step import ConsistencyDistillation


def draw_generated(generator: torch.Generator, lambda_real: float) -> bool:
    """The coin of Eq. (9): True (generated start) with probability 1 - lambda_real.

    Draws one uniform from ``generator`` unless ``lambda_real >= 1`` (then nothing is drawn)."""
    if not 0.0 <= lambda_real <= 1.0:
        raise ValueError(f"distill.lambda_real={lambda_real} must lie in [0, 1]")
    if lambda_real >= 1.0:
        return False
    return bool(torch.rand((), generator=generator).item() >= lambda_real)


class MixedTrajectories:
    """Start latents of a micro-batch: the real ones, or the student's one-step sample from ``start_noise``."""

    def __init__(self, distill: ConsistencyDistillation):
        self.distill = distill

    @torch.no_grad()
    def one_step_sample(self, noise: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """f_theta(z, T): the student's one-step sample (B, C, F, h, w) from pure noise z, no gradients.

        T is the top timestep of the skip grid (999 for 50 steps over 1000), as the one-step sampler uses."""
        top = self.distill.solver.timesteps[-1]
        t = torch.full((noise.shape[0],), int(top), device=noise.device, dtype=torch.long)
        return self.distill.consistency_fn(noise, t, text)

    def start_latents(self, real: torch.Tensor, generated: bool, start_noise: torch.Tensor | None,
                      text: torch.Tensor) -> torch.Tensor:
        """x0 of Eq. (7) (``generated`` False: ``real``) or Eq. (8) (``generated`` True: one-step sample)."""
        if not generated:
            return real
        if start_noise is None or start_noise.shape != real.shape:
            raise ValueError(
                f"the generated branch needs start_noise shaped like the latents {tuple(real.shape)}; got "
                f"{None if start_noise is None else tuple(start_noise.shape)}"
            )
        return self.one_step_sample(start_noise, text).to(real.dtype)
