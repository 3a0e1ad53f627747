"""Adversarial losses of Eq. (4)-(5) and the discriminator's gradient penalty (Appendix C.1).

* Generator (Eq. 4): ``L_G = -mean D(fake)``.
* Discriminator (Eq. 5, hinge): ``L_D = mean relu(1 - D(real)) + mean relu(1 + D(fake))``.
  ``D`` here is the per-patch logit of every head (``ImageDiscriminator.forward``), so the hinge is applied
  per patch logit and averaged, as in StyleGAN-T, ADD and the authors' code.
* Gradient penalty, the term the paper omits "for conciseness", selectable by ``config.penalty``:
  - ``wgan_gp`` (the authors'): ``mean_i (||grad_f sum D(f_i)||_2 - 1)^2`` where f_i are the DINO features
    (all heads' tokens of sample i, one norm per sample) of an interpolate of real and fake: either of the
    preprocessed images (``gp_interpolation='pixels'``, the authors' code) or of the features themselves.
  - ``r1``: ``mean_i ||grad_x sum D(x_i)||_2^2`` on real images x (double backward through the backbone).
  Weight 1e-5, multiplied by 5 whenever the penalty reaches 100, at most once per 500 steps
  (:class:`PenaltyWeight`, a checkpointed state).

Under DDP the discriminator gets no gradient from the generator's loss (use ``model.frozen``) and the
generator none from the discriminator's (:func:`discriminator_loss` detaches the fake images).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F

from mcm.discriminator.model import ImageDiscriminator

HINGE_MARGIN = 1.0


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. (4): -mean D(fake), logits of any shape (N,) or (N, K)."""
    return -fake_logits.float().mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor
                             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (5): mean relu(1 - D(real)) + mean relu(1 + D(fake)); returns (loss, terms)."""
    loss_real = F.relu(HINGE_MARGIN - real_logits.float()).mean()
    loss_fake = F.relu(HINGE_MARGIN + fake_logits.float()).mean()
    return loss_real + loss_fake, {"d_loss_real": loss_real.detach(), "d_loss_fake": loss_fake.detach()}


def _per_sample_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm per sample over a list of gradients sharing the batch dimension: (N,)."""
    return torch.cat([g.flatten(1) for g in grads], dim=1).norm(2, dim=1)


def wgan_gp_from_features(disc: ImageDiscriminator, features: list[torch.Tensor],
                          text_embed: Optional[torch.Tensor]) -> torch.Tensor:
    """(||grad_f sum_k sum D_k(f)|| - 1)^2 averaged over samples, at given (detached) features f."""
    leaves = [f.detach().float().requires_grad_(True) for f in features]
    logits = disc.head_logits(leaves, text_embed)
    total = sum(l.float().sum() for l in logits)
    grads = torch.autograd.grad(total, leaves, create_graph=True)
    return ((_per_sample_norm(list(grads)) - 1.0) ** 2).mean()


def wgan_gp_penalty(disc: ImageDiscriminator, real_pixels: torch.Tensor, fake_pixels: torch.Tensor,
                    text_embed: Optional[torch.Tensor], real_features: Optional[list[torch.Tensor]] = None,
                    fake_features: Optional[list[torch.Tensor]] = None,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The authors' penalty at random interpolates of real and fake (per-sample alpha ~ U[0, 1)).

    ``real_pixels``/``fake_pixels`` are *preprocessed* backbone inputs (N, 3, S, S); with
    ``gp_interpolation='features'`` the given features are interpolated instead. If the batches differ in
    size the first min(N_real, N_fake) of each are used, conditioned on ``text_embed[:n]`` (the fake's).
    """
    n = min(real_pixels.shape[0], fake_pixels.shape[0])
    alpha = torch.rand(n, generator=generator, device=real_pixels.device, dtype=torch.float32)
    text = None if text_embed is None else text_embed[:n]
    if disc.config.gp_interpolation == "features":
        if real_features is None or fake_features is None:
            with torch.no_grad():
                real_features = disc.features(real_pixels[:n])
                fake_features = disc.features(fake_pixels[:n])
        feats = [torch.lerp(f[:n].float(), r[:n].float(), alpha.view(n, 1, 1))
                 for r, f in zip(real_features, fake_features)]
    else:
        mix = torch.lerp(fake_pixels[:n].float(), real_pixels[:n].float(), alpha.view(n, 1, 1, 1))
        with torch.no_grad():
            feats = disc.features(mix)
    return wgan_gp_from_features(disc, feats, text)


def r1_penalty(disc: ImageDiscriminator, real_images: torch.Tensor, text_embed: Optional[torch.Tensor],
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """mean_i ||grad_x sum D(x_i)||^2 on real images (N, 3, H, W) in [-1, 1], augmentation included."""
    x = real_images.detach().float().requires_grad_(True)
    logits = disc(x, text_embed, augment=True, generator=generator)
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(dim=1).mean()


class PenaltyWeight:
    """The gradient-penalty weight and its growth rule (authors: x5 when the penalty reaches 100, at most
    once per 500 steps). ``update`` averages the penalty over ranks first, so every rank keeps one weight."""

    def __init__(self, weight: float, growth: float = 5.0, threshold: float = 100.0, interval: int = 500):
        self.weight, self.growth, self.threshold, self.interval = float(weight), growth, threshold, interval
        self.last_growth_step = 0

    @classmethod
    def from_config(cls, cfg) -> "PenaltyWeight":
        return cls(cfg.penalty_weight, cfg.penalty_growth, cfg.penalty_growth_threshold, cfg.penalty_growth_interval)

    def update(self, penalty: torch.Tensor | float, step: int) -> bool:
        """Grow the weight if due; returns whether it grew.

        The interval is checked first (the same on every rank), so the penalty is only read (a device sync
        and, under torch.distributed, an all-reduce) when a growth is possible.
        """
        if step - self.last_growth_step < self.interval:
            return False
        value = torch.as_tensor(penalty, dtype=torch.float32).detach().clone()
        if dist.is_available() and dist.is_initialized():
            if value.device.type == "cpu" and dist.get_backend() == "nccl":
                value = value.cuda()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= dist.get_world_size()
        if float(value) >= self.threshold:
            self.weight *= self.growth
            self.last_growth_step = step
            return True
        return False

    def state_dict(self) -> dict[str, float | int]:
        return {"weight": self.weight, "last_growth_step": self.last_growth_step}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.weight = float(state["weight"])
        self.last_growth_step = int(state["last_growth_step"])


def discriminator_loss(disc: ImageDiscriminator, real_images: torch.Tensor, real_text: Optional[torch.Tensor],
                       fake_images: torch.Tensor, fake_text: Optional[torch.Tensor],
                       penalty_weight: Optional[PenaltyWeight] = None, step: int = 0,
                       generator: Optional[torch.Generator] = None
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The discriminator's full loss for one step: hinge (Eq. 5) + weight * penalty.

    ``fake_images`` are detached here, so the loss never reaches the generator. Real images come from the
    image set M (N_r, 3, H, W), fakes from decoded sparse frames (N_f, 3, H, W); both in [-1, 1]. The
    backbone runs without gradients (only the heads train) except through R1's double backward.
    Returns (loss, logged terms: d_loss_real, d_loss_fake, d_penalty, d_penalty_weight, d_real_score,
    d_fake_score).
    """
    cfg = disc.config
    fake_images = fake_images.detach()
    with torch.no_grad():
        real_pixels = disc.preprocess(real_images, augment=True, generator=generator)
        fake_pixels = disc.preprocess(fake_images, augment=True, generator=generator)
        real_feats = disc.features(real_pixels)
        fake_feats = disc.features(fake_pixels)
    real_logits = torch.cat(disc.head_logits(real_feats, real_text), dim=1)
    fake_logits = torch.cat(disc.head_logits(fake_feats, fake_text), dim=1)
    loss, terms = hinge_discriminator_loss(real_logits, fake_logits)
    terms["d_real_score"] = real_logits.detach().float().mean()
    terms["d_fake_score"] = fake_logits.detach().float().mean()

    if cfg.penalty != "none":
        pw = penalty_weight if penalty_weight is not None else PenaltyWeight.from_config(cfg)
        if cfg.penalty == "wgan_gp":
            penalty = wgan_gp_penalty(disc, real_pixels, fake_pixels, fake_text, real_feats, fake_feats, generator)
        else:
            penalty = r1_penalty(disc, real_images, real_text, generator)
        pw.update(penalty, step)
        loss = loss + pw.weight * penalty
        terms["d_penalty"] = penalty.detach()
        terms["d_penalty_weight"] = torch.tensor(pw.weight)
    terms["d_loss"] = loss.detach()
    return loss, terms
