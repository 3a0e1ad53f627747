"""The training pool of the evaluation networks and the seeded batches drawn from it.

Training data come from a fixed pool of ``networks``-set clips rendered once (clean, styled, and "soft":
blurred + lower contrast with a degradation drawn for the clip); each batch composes looks on the fly from
the pool (watermark, sensor noise, uint8 quantisation), with indices and looks from a seeded numpy generator
and noise from a seeded torch generator, so a given seed and thread count give bit-identical weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from mcm.world import render
from mcm.world.evalnets.config import BASES, CLEAN, POOL_STREAM, SOFT, STYLED, LookMix
from mcm.world.sets import WorldConfig, items


def soft_degrade(frames: np.ndarray, deg: render.Degradation) -> np.ndarray:
    """V's defects before the watermark and the noise (the first two steps of ``render.degrade``)."""
    scale = frames.shape[1] / render.REFERENCE_SIZE
    out = render.gaussian_blur(frames, deg.blur * scale)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(mean + deg.contrast * (out - mean), 0.0, 1.0)


@dataclass
class Pool:
    """Training pool: uint8 (P, F, S, S, 3) per base (BASES order), labels and clip parameters."""

    bases: torch.Tensor  # (3, P, F, S, S, 3) uint8
    labels: torch.Tensor  # (P, 3) int64: shape, colour, direction
    speed: torch.Tensor  # (P,) float, pixels per frame at the reference size
    size: torch.Tensor  # (P,) float, object half-size at the reference size
    centres: torch.Tensor  # (P, F, 2) float, object centre (x, y) / frame side in [0, 1]
    watermark: torch.Tensor  # (S, S) float, watermark alpha

    @property
    def count(self) -> int:
        return self.bases.shape[1]


def build_pool(world: WorldConfig, count: int) -> Pool:
    """Render items 0 .. count of the ``networks`` set (seen combinations only) clean, soft and styled."""
    its = items(world, "networks", count)
    rng = np.random.default_rng([world.seed, POOL_STREAM])
    f, s = world.num_frames, world.size
    bases = np.empty((len(BASES), count, f, s, s, 3), np.uint8)
    scale = s / render.REFERENCE_SIZE
    centres = np.empty((count, f, 2), np.float32)
    for k, it in enumerate(its):
        clean = it.clean(world)
        bases[CLEAN, k] = render.to_uint8(clean)
        bases[SOFT, k] = render.to_uint8(soft_degrade(clean, render.draw_degradation(rng)))
        bases[STYLED, k] = render.to_uint8(render.render_styled(it.combo, it.params, f, s))
        centres[k] = render.centres(it.combo, it.params, f) / s
    labels = torch.tensor([[it.combo.shape, it.combo.colour, it.combo.direction] for it in its], dtype=torch.long)
    return Pool(
        bases=torch.from_numpy(bases), labels=labels,
        speed=torch.tensor([it.params.speed / scale for it in its], dtype=torch.float32),
        size=torch.tensor([it.params.size / scale for it in its], dtype=torch.float32),
        centres=torch.from_numpy(centres),
        watermark=torch.from_numpy(render.WATERMARK_ALPHA * render.watermark_mask(s)),
    )


@dataclass
class Batch:
    x: torch.Tensor  # (B, F, 3, S, S) videos or (B, 3, S, S) frames, float in [0, 1]
    index: torch.Tensor  # (B,) pool index
    frame: Optional[torch.Tensor]  # (B,) frame index for frame batches
    base: torch.Tensor  # (B,) index into BASES
    watermark: torch.Tensor  # (B,) float 0/1
    noise: torch.Tensor  # (B,) float 0/1
    shuffled: torch.Tensor  # (B,) float 0/1 (video batches)
    pick_frames: Optional[torch.Tensor] = None  # (B, K) frames per clip the attribute net trains on
    pick_pairs: Optional[torch.Tensor] = None  # (B, K) frame pairs per clip the attribute net trains on


class BatchSampler:
    """Seeded draws of training batches from the pool (numpy generator for choices, torch for noise)."""

    def __init__(self, pool: Pool, looks: LookMix, seed: int, stream: int) -> None:
        self.pool, self.looks = pool, looks
        self.rng = np.random.default_rng([seed, stream])
        self.gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))

    def draw(self, batch: int, frames: bool, shuffle_prob: float = 0.0,
             pick: Optional[tuple[int, int]] = None, window: Optional[int] = None) -> Batch:
        """A batch of ``batch`` frames (``frames``) or clips; ``shuffle_prob``: share of clips with shuffled
        frames; ``pick`` (frames, pairs): also draw that many distinct frames and frame pairs per clip;
        ``window``: clips are that many consecutive frames from a random start (one start per batch)."""
        pool, rng, lk = self.pool, self.rng, self.looks
        index = rng.integers(pool.count, size=batch)
        base = rng.choice(len(BASES), size=batch, p=lk.weights())
        wm = rng.uniform(size=batch) < lk.watermark
        noise = rng.uniform(size=batch) < np.where(base == SOFT, lk.noise_soft, lk.noise_other)
        num_frames = pool.bases.shape[2]
        frame = rng.integers(num_frames, size=batch) if frames else None
        first = 0
        if window is not None and not frames and window < num_frames:
            first = int(rng.integers(num_frames - window + 1))
            num_frames = window
        shuffled = np.zeros(batch, bool)
        order = np.tile(np.arange(first, first + num_frames), (batch, 1))
        if not frames and shuffle_prob > 0:
            shuffled = rng.uniform(size=batch) < shuffle_prob
            for b in np.flatnonzero(shuffled):
                perm = rng.permutation(num_frames)
                while np.array_equal(perm, np.arange(num_frames)):
                    perm = rng.permutation(num_frames)
                order[b] = first + perm
        idx_t, base_t = torch.from_numpy(index), torch.from_numpy(base)
        if frames:
            x = pool.bases[base_t, idx_t, torch.from_numpy(frame)]  # (B, S, S, 3)
        else:
            x = pool.bases[base_t[:, None], idx_t[:, None], torch.from_numpy(order)]  # (B, F, S, S, 3)
        x = x.float().div_(255.0)
        bshape = (batch,) + (1,) * (x.ndim - 1)
        wm_t = torch.from_numpy(wm.astype(np.float32))
        alpha = pool.watermark[..., None] * wm_t.view(bshape)
        x = x * (1 - alpha) + alpha
        noise_t = torch.from_numpy(noise.astype(np.float32))
        x = x + render.NOISE_SIGMA * torch.randn(x.shape, generator=self.gen) * noise_t.view(bshape)
        x = x.clamp_(0, 1).mul_(255).round_().div_(255)  # uint8 quantisation, as stored data
        x = x.movedim(-1, -3).contiguous()
        pick_frames = pick_pairs = None
        if pick is not None:
            k_frames, k_pairs = min(pick[0], num_frames), min(pick[1], num_frames - 1)
            pick_frames = torch.from_numpy(np.stack([rng.choice(num_frames, k_frames, replace=False)
                                                     for _ in range(batch)]))
            pick_pairs = torch.from_numpy(np.stack([rng.choice(num_frames - 1, k_pairs, replace=False)
                                                    for _ in range(batch)]))
        return Batch(x, idx_t, torch.from_numpy(frame) if frames else None, base_t, wm_t, noise_t,
                     torch.from_numpy(shuffled.astype(np.float32)), pick_frames, pick_pairs)
