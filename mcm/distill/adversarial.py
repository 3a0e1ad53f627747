"""The adversarial terms of MCM (Eq. 4-5) on sparse decoded frames, with rank-independent randomness.

Generator side (Eq. 4), inside the student's step:

    fake = VAE.decode(x0_theta[:, :, frames])      only l frames per video, with gradients      (B*l, 3, H, W)
    L_adv = -mean D(aug(fake), c)                  D frozen: no gradient, no state change

``x0_theta`` is the *raw* student prediction f_theta(x_t, t), never the motion head's output.

Discriminator side (Eq. 5), its own step: hinge on real images of M (or frames of V) and the detached fakes,
plus the gradient penalty (``wgan_gp`` the authors' form, or ``r1``) weighted by the growing
:class:`~mcm.discriminator.PenaltyWeight`.

Every random draw of the discriminator's input (DiffAugment, random crop, the penalty's interpolation
weight) comes from a generator seeded per *sample* from the step's draws (``StepNoise.aug_seeds``, one per
video of the global batch), so a sample is augmented identically whichever rank holds it: N ranks with batch b
compute exactly what one process with batch N*b does (with ``virtual_batch_size`` = l the heads' local batch
norm groups do not depend on the rank split either). This is why the hinge and penalty are composed here from
the discriminator module's parts rather than through its ``discriminator_loss``, which draws from one
generator for the whole batch.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from mcm.discriminator.loss import (
    PenaltyWeight,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    wgan_gp_from_features,
)
from mcm.discriminator.model import ImageDiscriminator, frozen
from mcm.discriminator.sparse_frames import decode_sparse_frames
from mcm.teachers.base import Teacher

# Purposes of the per-sample seeds: the generator's view of a fake, the discriminator's views of fake and
# real, and the penalty's interpolation weight get independent draws from one per-video seed.
SEED_FAKE_G, SEED_FAKE_D, SEED_REAL, SEED_GP = 1, 2, 3, 4
SEED_STRIDE = 1_000_003
SEED_MODULUS = 2**62


def frame_seeds(video_seeds: torch.Tensor, l: int, purpose: int) -> list[int]:
    """One seed per frame (B*l, video-major) from one per video (B,) and a purpose tag."""
    return [
        (int(s) + purpose * SEED_STRIDE + j) % SEED_MODULUS for s in video_seeds.tolist() for j in range(l)
    ]


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def preprocess_per_sample(disc: ImageDiscriminator, images: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """Augment + resize + normalise each image (N, 3, H, W) with its own seeded generator -> (N, 3, S, S)."""
    if len(seeds) != images.shape[0]:
        raise ValueError(f"got {len(seeds)} seeds for {images.shape[0]} images")
    return torch.cat([
        disc.preprocess(images[i : i + 1], augment=True, generator=_generator(seed, images.device))
        for i, seed in enumerate(seeds)
    ])


def vae_frame_decoder(teacher: Teacher) -> Callable[[torch.Tensor], torch.Tensor]:
    """Latent frames (N, C, h, w) (scaled by the VAE factor) -> images (N, 3, H, W), fp32, with gradients."""
    vae = teacher.vae
    if vae is None:
        raise ValueError(f"the adversarial loss decodes frames, but teacher {teacher.name!r} has no VAE")
    scale = vae.config.scaling_factor

    def decode(frames: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=frames.device.type, enabled=False):
            return vae.decode(frames.float() / scale).sample

    return decode


def generator_loss(disc: ImageDiscriminator, decode: Callable[[torch.Tensor], torch.Tensor],
                   student_x0: torch.Tensor, frames: torch.Tensor, text_embed: Optional[torch.Tensor],
                   video_seeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (4) on l sparse frames of the raw student prediction (B, C, F, h, w); frames (B, l).

    ``text_embed``: per-frame CLIP embeddings (B*l, D) or None. Returns (loss, fake images (B*l, 3, H, W) with
    their graph; detach them for the discriminator's step)."""
    fake = decode_sparse_frames(decode, student_x0, frames)
    with frozen(disc):
        pixels = preprocess_per_sample(disc, fake, frame_seeds(video_seeds, frames.shape[1], SEED_FAKE_G))
        logits = torch.cat(disc.head_logits(disc.features(pixels), text_embed), dim=1)
    return generator_adversarial_loss(logits), fake


def _penalty(disc: ImageDiscriminator, real: torch.Tensor, real_pixels: torch.Tensor, real_feats: list,
             fake_pixels: torch.Tensor, fake_feats: list, real_text, fake_text, video_seeds: torch.Tensor,
             l: int) -> torch.Tensor:
    cfg = disc.config
    if cfg.penalty == "r1":
        x = real.detach().float().requires_grad_(True)
        pixels = preprocess_per_sample(disc, x, frame_seeds(video_seeds, l, SEED_REAL))
        logits = torch.cat(disc.head_logits(disc.features(pixels), real_text), dim=1)
        (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
        return grad.flatten(1).square().sum(dim=1).mean()
    # wgan_gp: one interpolation weight per sample, from that sample's seed
    alpha = torch.cat([
        torch.rand(1, generator=_generator(s, real.device), device=real.device)
        for s in frame_seeds(video_seeds, l, SEED_GP)
    ])
    if cfg.gp_interpolation == "features":
        feats = [torch.lerp(f.float(), r.float(), alpha.view(-1, 1, 1)) for r, f in zip(real_feats, fake_feats)]
    else:
        mix = torch.lerp(fake_pixels.float(), real_pixels.float(), alpha.view(-1, 1, 1, 1))
        with torch.no_grad():
            feats = disc.features(mix)
    return wgan_gp_from_features(disc, feats, fake_text)


def discriminator_objective(disc: ImageDiscriminator, real: torch.Tensor, real_text: Optional[torch.Tensor],
                            fake: torch.Tensor, fake_text: Optional[torch.Tensor], video_seeds: torch.Tensor,
                            penalty_weight: PenaltyWeight, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (5) + penalty for real (B*l, 3, H, W) and fake (B*l, 3, H, W) images, both in [-1, 1].

    The fakes are detached (no gradient reaches the student); the backbone runs without gradients except in
    R1's double backward. Returns (loss, terms: d_loss_real, d_loss_fake, d_real_score, d_fake_score,
    d_penalty, d_penalty_weight, d_loss)."""
    if real.shape[0] != fake.shape[0]:
        raise ValueError(f"real images ({real.shape[0]}) and fake frames ({fake.shape[0]}) must pair up")
    cfg, l = disc.config, fake.shape[0] // max(video_seeds.shape[0], 1)
    fake = fake.detach()
    with torch.no_grad():
        real_pixels = preprocess_per_sample(disc, real, frame_seeds(video_seeds, l, SEED_REAL))
        fake_pixels = preprocess_per_sample(disc, fake, frame_seeds(video_seeds, l, SEED_FAKE_D))
        real_feats, fake_feats = disc.features(real_pixels), disc.features(fake_pixels)
    real_logits = torch.cat(disc.head_logits(real_feats, real_text), dim=1)
    fake_logits = torch.cat(disc.head_logits(fake_feats, fake_text), dim=1)
    loss, terms = hinge_discriminator_loss(real_logits, fake_logits)
    terms["d_real_score"] = real_logits.detach().float().mean()
    terms["d_fake_score"] = fake_logits.detach().float().mean()
    if cfg.penalty != "none":
        penalty = _penalty(disc, real, real_pixels, real_feats, fake_pixels, fake_feats, real_text, fake_text,
                           video_seeds, l)
        penalty_weight.update(penalty, step)
        loss = loss + penalty_weight.weight * penalty
        terms["d_penalty"] = penalty.detach()
        terms["d_penalty_weight"] = torch.tensor(penalty_weight.weight)
    terms["d_loss"] = loss.detach()
    return loss, terms
