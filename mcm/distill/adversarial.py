"""The generator's adversarial term of MCM (Eq. 4) on sparse decoded frames, with rank-independent randomness.

Generator side (Eq. 4), inside the student's step:

    fake = VAE.decode(x0_theta[:, :, frames])      only l frames per video, with gradients      (B*l, 3, H, W)
    L_adv = -mean D(aug(fake), c)                  D frozen: no gradient, no state change

``x0_theta`` is the *raw* student prediction f_theta(x_t, t), never the motion head's output.

The discriminator's side (Eq. 5 hinge + the gradient penalty of Appendix C.1) is
:func:`mcm.discriminator.loss.discriminator_loss`. Both sides draw every random choice of the discriminator's
input from generators seeded per *sample* (:func:`~mcm.discriminator.loss.frame_seeds`, one seed per video of
the global batch, ``StepNoise.aug_seeds``), so N ranks with batch b compute exactly what one process with batch
N*b does.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from mcm.discriminator.loss import SEED_FAKE_G, frame_seeds, generator_adversarial_loss, preprocess_per_sample
from mcm.discriminator.model import ImageDiscriminator, frozen
from mcm.discriminator.sparse_frames import decode_sparse_frames
from mcm.teachers.base import Teacher


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
