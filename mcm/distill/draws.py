"""The random draws of one training micro-batch, seeded so that N ranks equal one process.

Every draw of a micro-step comes in as tensors (:class:`StepNoise`): grid index, noise and guidance scale per
sample (Eq. 1-3), the mixed-trajectory coin and the one-step sample's pure noise (Eq. 7-9), the sparse frames
and augmentation seeds of the discriminator (Eq. 4-5).

:func:`draw_rank_slice` is what the trainer uses: the coin comes from the *global* micro-batch's generator
(seeded by (seed, update, micro-batch): every rank takes the same branch), and each sample's draws from a
generator of its own, seeded by (micro-batch seed, global sample index). A rank therefore draws only its own
slice (the cost does not grow with the world size), and sample i gets the same draws whichever rank holds it.
:func:`draw_step_noise` draws a whole batch from one generator (tests, benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch

from mcm.teachers.config import TeacherConfig
from mcm.discriminator.sparse_frames import sample_frame_indices
from mcm.distill.guidance import sample_guidance_scale
from mcm.trajectories.mixed import draw_generated

AUG_SEED_RANGE = 2**62
SEED_MODULUS = 2**63
# Mixing constants of the seeds: distinct primes, so that (seed, update, micro-batch, sample) do not collide
# for any realistic run length.
UPDATE_STRIDE = 1_000_003
MICRO_STRIDE = 1009
SAMPLE_STRIDE = 100_000_007


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


def micro_batch_seed(seed: int, update: int, micro: int) -> int:
    """The seed of global micro-batch ``micro`` of optimiser update ``update``."""
    return ((seed * UPDATE_STRIDE + update) * MICRO_STRIDE + micro) % SEED_MODULUS


def sample_seed(micro_seed: int, sample: int) -> int:
    """The seed of global sample ``sample`` of a micro-batch."""
    return (micro_seed * SAMPLE_STRIDE + sample + 1) % SEED_MODULUS


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
    """Draw the randomness of a batch on the CPU from one ``generator``.

    The LCM draws come first, so an LCM run (``lambda_real=1``, ``sparse_frames=0``) draws exactly them; the
    mixed-trajectory coin (Eq. 9) is drawn only when ``lambda_real < 1`` and the frame indices only when
    ``sparse_frames > 0`` (latent_shape is (C, F, h, w))."""
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


def draw_rank_slice(
    micro_seed: int,
    start: int,
    batch: int,
    latent_shape: tuple[int, ...],
    num_ddim_timesteps: int,
    teacher_cfg: TeacherConfig,
    lambda_real: float = 1.0,
    sparse_frames: int = 0,
    frame_sampling: str = "random",
) -> StepNoise:
    """The draws of global samples ``start .. start + batch - 1`` of the micro-batch seeded ``micro_seed``.

    The coin (Eq. 9) comes from the micro-batch's own generator; each sample's draws from
    ``sample_seed(micro_seed, i)``, so any split of the global batch over ranks gives every sample the same
    draws as one process does."""
    generated = draw_generated(torch.Generator().manual_seed(micro_seed), lambda_real)
    parts = [
        draw_step_noise(torch.Generator().manual_seed(sample_seed(micro_seed, i)), 1, latent_shape,
                        num_ddim_timesteps, teacher_cfg, lambda_real=0.0 if generated else 1.0,
                        sparse_frames=sparse_frames, frame_sampling=frame_sampling)
        for i in range(start, start + batch)
    ]
    cat = lambda xs: None if xs[0] is None else torch.cat(xs)  # noqa: E731
    return StepNoise(
        index=cat([p.index for p in parts]), noise=cat([p.noise for p in parts]), w=cat([p.w for p in parts]),
        generated=generated, start_noise=cat([p.start_noise for p in parts]), frames=cat([p.frames for p in parts]),
        aug_seeds=cat([p.aug_seeds for p in parts]),
    )
