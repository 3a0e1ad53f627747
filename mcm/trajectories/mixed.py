"""Mixed trajectory distillation (Eq. 7-9, Section 3.3): the one object that decides a micro-batch's start.

Plain consistency distillation starts every trajectory at a real video x0 ~ V (Eq. 7, ``real``). MCM also
distills along trajectories that start at the student's own one-step sample from pure noise (Eq. 8,
``generated``), so that the student sees at training time what it sees at inference:

    with probability lambda_real:      x0 = E(video)                          real trajectory
    with probability 1 - lambda_real:  x0 = f_theta(z, T), z ~ N(0, I)        generated trajectory (no grad)
    then x_t = alpha_t x0 + sigma_t eps at the drawn t, and both the MCD loss (Eq. 6) and the adversarial
    loss (Eq. 4) apply from there                                            L = Eq. 9

:class:`MixedTrajectories` owns ``lambda_real`` (``distill.lambda_real``) and which captions condition the
generated branch (``mixed.captions``: the image set's, as the authors, or the video batch's); the trainer and
the step ask it instead of reading the config. The coin is drawn once per *global* micro-batch from the step's
generator (seeded by (seed, update, micro-batch), see ``mcm.distill.draws``), so every rank takes the same
branch and a run on N ranks equals one on 1 process. ``lambda_real = 1`` never draws and never calls the
one-step sampler (the LCM / "+ MCD" rows); ``lambda_real = 0`` is all generated (Table 6).

Shapes: latents and noise (B, C, F, h, w); text states (B, L, D).
"""

from __future__ import annotations

from typing import Optional, Protocol

import torch

CAPTION_SOURCES = ("image", "video")


class _TimestepGrid(Protocol):
    """What :class:`MixedTrajectories` reads of the solver: its skip grid of timesteps (ascending)."""

    timesteps: torch.Tensor


class OneStepStudent(Protocol):
    """The part of the distillation step (``mcm.distill.step.ConsistencyDistillation``) that
    :class:`MixedTrajectories` uses: the solver's timestep grid and the student's consistency function without
    gradients. A protocol rather than an import: the step (through ``mcm.distill.draws``) imports this module,
    so importing the step here would close an import circle."""

    @property
    def solver(self) -> _TimestepGrid: ...

    def no_grad_consistency_fn(self, x_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor: ...


def draw_generated(generator: torch.Generator, lambda_real: float) -> bool:
    """The coin of Eq. (9): True (generated start) with probability 1 - lambda_real.

    Draws one uniform from ``generator`` unless ``lambda_real >= 1`` (then nothing is drawn)."""
    if not 0.0 <= lambda_real <= 1.0:
        raise ValueError(f"distill.lambda_real={lambda_real} must lie in [0, 1]")
    if lambda_real >= 1.0:
        return False
    return bool(torch.rand((), generator=generator).item() >= lambda_real)


class MixedTrajectories:
    """Start latents of a micro-batch (real, or the student's one-step sample) and their captions."""

    def __init__(self, distill: OneStepStudent, lambda_real: float = 1.0, captions: str = "image"):
        if not 0.0 <= lambda_real <= 1.0:
            raise ValueError(f"distill.lambda_real={lambda_real} must lie in [0, 1]")
        if captions not in CAPTION_SOURCES:
            raise ValueError(f"mixed.captions={captions!r} must be one of {CAPTION_SOURCES}")
        self.distill, self.lambda_real, self.caption_source = distill, lambda_real, captions

    @property
    def ever_generated(self) -> bool:
        """Whether any micro-batch can take the generated branch (lambda_real < 1)."""
        return self.lambda_real < 1.0

    @property
    def wants_image_captions(self) -> bool:
        """Whether the generated branch reads the image set's captions (so the trainer must load M)."""
        return self.ever_generated and self.caption_source == "image"

    def draw(self, generator: torch.Generator) -> bool:
        """The coin of Eq. (9) for one global micro-batch (nothing drawn when lambda_real = 1)."""
        return draw_generated(generator, self.lambda_real)

    def captions(self, generated: bool, video_captions: list[str], image_captions: Optional[list[str]],
                 images_per_video: int = 1) -> list[str]:
        """Captions that condition this micro-batch: V's on the real branch; on the generated branch the image
        set's (one per video: every ``images_per_video``-th) when ``mixed.captions='image'`` and images exist."""
        if generated and self.caption_source == "image" and image_captions is not None:
            return list(image_captions[::images_per_video])
        return list(video_captions)

    @torch.no_grad()
    def one_step_sample(self, noise: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """f_theta(z, T): the student's one-step sample (B, C, F, h, w) from pure noise z, no gradients.

        T is the top timestep of the skip grid (999 for 50 steps over 1000), as the one-step sampler uses.
        Deterministic: the network runs in eval mode (see ``ConsistencyDistillation.no_grad_consistency_fn``)."""
        top = self.distill.solver.timesteps[-1]
        t = torch.full((noise.shape[0],), int(top), device=noise.device, dtype=torch.long)
        return self.distill.no_grad_consistency_fn(noise, t, text)

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
