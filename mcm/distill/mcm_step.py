"""One MCM micro-step, Eq. (4)-(9) on one screen: a pure function of the micro-batch, its draws and the modules.

    given  x0 = E(video) of V, its captions, real images of M (or frames of V), the draws (mcm.distill.draws)
    Eq. 7-8  start:   x0 <- f_theta(z, T) (no grad) when the coin says "generated", captions per ``mixed.captions``
    Eq. 6    L_MCD  = d(M(f_theta(x_t, t)), M_ema(f_theta-(x_{t-s}, t - s)))     (Eq. 1-3 inside; M = raw: LCM)
    Eq. 4    L_adv  = -mean D(aug(VAE.decode(f_theta(x_t, t)[:, :, frames])), c)  on the *raw* prediction, D frozen
    Eq. 9    L_student = L_MCD + lambda_adv L_adv                                 (this micro-batch's branch)
    Eq. 5    L_D    = hinge(D(real), D(fake.detach())) + w_gp * penalty          only D's heads get gradients

What only a trainer knows stays in the trainer: backward, accumulation, optimiser steps, the motion head's
EMA, the penalty weight's growth, logging and checkpoints. ``bench/train_step.py`` times this same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from mcm.discriminator.loss import PenaltyWeight, discriminator_loss
from mcm.discriminator.model import ImageDiscriminator
from mcm.discriminator.sparse_frames import repeat_per_frame
from mcm.distill.adversarial import generator_loss
from mcm.distill.draws import StepNoise
from mcm.distill.step import ConsistencyDistillation
from mcm.trajectories.mixed import MixedTrajectories

TextEncoder = Callable[[list[str]], torch.Tensor]


@dataclass
class MicroBatch:
    """One rank's slice of a global micro-batch, encoded: what the step reads besides its draws.

    ``latents`` E(video) (B, C, F, h, w); ``captions`` V's (B); ``uncond`` the empty prompt's text states
    (B, L, D); ``real_images`` the discriminator's real images (B*l, 3, H, W) in [-1, 1] with their captions
    (B*l) (None without a discriminator; the captions may also condition the generated branch)."""

    latents: torch.Tensor
    captions: list[str]
    uncond: torch.Tensor
    real_images: Optional[torch.Tensor] = None
    real_captions: Optional[list[str]] = None


@dataclass
class Adversary:
    """The discriminator side of the step: D_psi, the VAE decode of sparse frames, the text condition c of the
    heads (captions -> (N, D) or None), and the current penalty weight (grown by the trainer)."""

    disc: ImageDiscriminator
    decode: Callable[[torch.Tensor], torch.Tensor]
    text: Callable[[list[str]], Optional[torch.Tensor]]
    penalty_weight: PenaltyWeight
    sparse_frames: int


@dataclass
class StepStart:
    """Eq. 7-8: the start latents (B, C, F, h, w), their text states (B, L, D) and captions."""

    latents: torch.Tensor
    text: torch.Tensor
    captions: list[str]


@dataclass
class MicroStepLosses:
    """``student``: Eq. 9's loss of this micro-batch (backward into LoRA + motion head); ``discriminator``: Eq. 5
    (backward into D's heads; None without D); ``terms``: every logged term, detached (0-d tensors)."""

    student: torch.Tensor
    discriminator: Optional[torch.Tensor]
    terms: dict[str, torch.Tensor]


class MCMStep:
    """Computes one micro-step's losses; holds no optimiser and no state of its own."""

    def __init__(self, distill: ConsistencyDistillation, mixed: MixedTrajectories,
                 adversary: Optional[Adversary] = None, lambda_adv: float = 1.0):
        self.distill, self.mixed, self.adversary, self.lambda_adv = distill, mixed, adversary, lambda_adv

    def start(self, batch: MicroBatch, noise: StepNoise, encode_text: TextEncoder) -> StepStart:
        """Eq. 7 (real start) or Eq. 8 (the student's one-step sample, no grad), as the coin in ``noise`` says."""
        per_video = self.adversary.sparse_frames if self.adversary is not None else 1
        captions = self.mixed.captions(noise.generated, batch.captions, batch.real_captions, per_video)
        text = encode_text(captions)
        latents = self.mixed.start_latents(batch.latents, noise.generated, noise.start_noise, text)
        return StepStart(latents, text, captions)

    def __call__(self, batch: MicroBatch, noise: StepNoise, encode_text: TextEncoder,
                 student_network: Optional[nn.Module] = None) -> MicroStepLosses:
        # Eq. 7-8: where the trajectory starts
        start = self.start(batch, noise, encode_text)
        # Eq. 6 (Eq. 1-3 inside): teacher ODE step, target, student through M (no-grad passes first)
        out = self.distill.loss(start.latents, start.text, batch.uncond, noise, student_network)
        terms = {"loss_mcd": out.loss.detach(),
                 "generated_start": torch.tensor(float(noise.generated), device=out.loss.device)}
        if out.collapse is not None:
            terms["motion_collapse"] = out.collapse.detach()
        loss, d_loss = out.loss, None
        adv = self.adversary
        if adv is not None:
            # Eq. 4: l decoded frames of the raw prediction, D frozen
            caption_text = adv.text(start.captions)
            fake_text = None if caption_text is None else repeat_per_frame(caption_text, adv.sparse_frames)
            adv_g, fake = generator_loss(adv.disc, adv.decode, out.student_x0, noise.frames, fake_text,
                                         noise.aug_seeds)
            terms["loss_adv_g"] = adv_g.detach()
            # Eq. 9: this micro-batch's branch of the mixed objective
            loss = loss + self.lambda_adv * adv_g
            # Eq. 5: hinge + penalty on real images and the detached fakes
            d_loss, d_terms = discriminator_loss(adv.disc, batch.real_images, adv.text(batch.real_captions), fake.detach(),
                                                 fake_text, noise.aug_seeds, adv.penalty_weight.weight)
            terms.update(d_terms)
        terms["loss"] = loss.detach()
        return MicroStepLosses(loss, d_loss, terms)
