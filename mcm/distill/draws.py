"""The random draws of one training micro-batch, seeded so that N ranks equal one process.

Every draw of a micro-step comes in as tensors (:class:`StepNoise`): grid index, noise and guidance scale per
sample (Eq. 1-3), the mixed-trajectory coin and the one-step sample's pure noise (Eq. 7-9), the sparse frames
and augmentation seeds of the discriminator (Eq. 4-5).

:func:`draw_rank_slice` is what the trainer uses: the coin comes from the *global* micro-batch's generator
(seeded by (seed, update, micro-batch): every rank takes the same branch), and the samples' draws from one
counter-based stream per micro-batch (numpy's PCG64, which can jump ahead): sample i owns the fixed block of
uniforms [i K, (i + 1) K), so a rank jumps to its first sample and draws only its own slice in one vectorised
call (the cost does not grow with the world size), and sample i gets the same draws whichever rank holds it.
Normals come from the uniforms by the Box-Muller transform (each consumes exactly its block, unlike
rejection samplers). Tests and benchmarks draw a whole batch as the slice (0, B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch

from mcm.discriminator.sparse_frames import frame_indices_from_uniforms, frame_uniforms_needed
from mcm.teachers.config import TeacherConfig
from mcm.trajectories.mixed import draw_generated

AUG_SEED_RANGE = 2**62
AUG_SEED_FROM_UNIFORM = 2**53  # a double in [0, 1) carries 53 random bits
SEED_MODULUS = 2**63
# Mixing constants of the seeds: distinct primes, so that (seed, update, micro-batch) do not collide for any
# realistic run length.
UPDATE_STRIDE = 1_000_003
MICRO_STRIDE = 1009


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


def _box_muller(u: np.ndarray, count: int) -> np.ndarray:
    """``count`` standard normals per row from 2 * ceil(count / 2) uniforms in [0, 1) per row (B, 2m)."""
    u1, u2 = u[:, 0::2], u[:, 1::2]
    radius = np.sqrt(-2.0 * np.log1p(-u1))  # 1 - u1 in (0, 1]
    angle = 2.0 * math.pi * u2
    return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)], axis=1)[:, :count]


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

    The coin (Eq. 9) comes from the micro-batch's own generator. Each sample owns a fixed block of K uniforms
    of the micro-batch's PCG64 stream: [grid index, w, noise (Box-Muller pairs), the one-step sample's noise
    (reserved on every branch, so the layout does not depend on the coin), frame keys, augmentation seed].
    Any split of the global batch over ranks gives every sample the draws one process gives it."""
    if batch < 1 or start < 0:
        raise ValueError(f"start={start} must be >= 0 and batch={batch} >= 1")
    generated = draw_generated(torch.Generator().manual_seed(micro_seed), lambda_real)
    numel = math.prod(latent_shape)
    pairs = 2 * ((numel + 1) // 2)
    frame_keys = frame_uniforms_needed(latent_shape[1], sparse_frames, frame_sampling) if sparse_frames > 0 else 0
    offsets = np.cumsum([0, 1, 1, pairs, pairs, frame_keys, 1 if sparse_frames > 0 else 0])
    block = int(offsets[-1])
    bits = np.random.PCG64(micro_seed)
    bits.advance(start * block)  # each double consumes exactly one 64-bit output
    u = np.random.Generator(bits).random(batch * block).reshape(batch, block)

    index = torch.from_numpy(np.minimum(np.floor(u[:, 0] * num_ddim_timesteps), num_ddim_timesteps - 1)).long()
    w_min, w_max = teacher_cfg.guidance_min, teacher_cfg.guidance_max
    w = torch.from_numpy(w_min + (w_max - w_min) * u[:, 1]).float()
    normals = lambda k: torch.from_numpy(  # noqa: E731
        _box_muller(u[:, offsets[k]:offsets[k + 1]], numel)).float().reshape(batch, *latent_shape)
    out = StepNoise(index=index, noise=normals(2), w=w, generated=generated)
    if generated:
        out = replace(out, start_noise=normals(3))
    if sparse_frames > 0:
        keys = torch.from_numpy(u[:, offsets[4]:offsets[5]])
        frames = frame_indices_from_uniforms(keys, latent_shape[1], sparse_frames, frame_sampling)
        seeds = torch.from_numpy(np.floor(u[:, offsets[5]] * AUG_SEED_FROM_UNIFORM)).long()
        out = replace(out, frames=frames, aug_seeds=seeds)
    return out

