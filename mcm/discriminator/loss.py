"""Adversarial losses of Eq. (4)-(5) and the discriminator's gradient penalty (Appendix C.1): one implementation.

* Generator (Eq. 4): ``L_G = -mean D(fake)``.
* Discriminator (Eq. 5, hinge): ``L_D = mean relu(1 - D(real)) + mean relu(1 + D(fake))``.
  ``D`` here is the per-patch logit of every head (``ImageDiscriminator.head_logits``), so the hinge is applied
  per patch logit and averaged, as in StyleGAN-T, ADD and the authors' code.
* Gradient penalty, the term the paper omits "for conciseness" (Appendix C.1), selectable by ``config.penalty``:
  - ``wgan_gp`` (the authors'): ``mean_i (||grad_f sum D(f_i)||_2 - 1)^2`` where f_i are the DINO features
    (all heads' tokens of sample i, one norm per sample) of an interpolate of real and fake: either of the
    preprocessed images (``gp_interpolation='pixels'``, the authors' code) or of the features themselves.
  - ``r1``: ``mean_i ||grad_x sum D(x_i)||_2^2`` on real images x (double backward through the backbone).
  Weight 1e-5, multiplied by 5 whenever the penalty reaches 100, at most once per 500 steps
  (:class:`PenaltyWeight`, a checkpointed state that the *trainer* grows; :func:`discriminator_loss` only
  reads its current value, so a micro-batch never syncs the host or all-reduces for it).

Rank-independent randomness. Every random draw of the discriminator's input (DiffAugment, random crop, the
penalty's interpolation weight) comes from a generator seeded per *sample* (:func:`frame_seeds`: one seed per
video of the global batch, e.g. ``StepNoise.aug_seeds``, spread over its l frames and a purpose tag), so a
sample is augmented identically whichever rank holds it: N ranks with batch b compute exactly what one process
with batch N*b does (with ``virtual_batch_size`` = l the heads' local batch norm groups do not depend on the
rank split either).

Under DDP the discriminator gets no gradient from the generator's loss (use ``model.frozen``) and the
generator none from the discriminator's (:func:`discriminator_loss` detaches the fake images).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F

from mcm.discriminator.model import ImageDiscriminator

HINGE_MARGIN = 1.0  # Eq. (5): relu(1 - D(real)) + relu(1 + D(fake))
GP_TARGET_NORM = 1.0  # WGAN-GP: (||grad|| - 1)^2

# Purposes of the per-sample seeds: the generator's view of a fake, the discriminator's views of fake and
# real, and the penalty's interpolation weight get independent draws from one per-video seed.
SEED_FAKE_G, SEED_FAKE_D, SEED_REAL, SEED_GP = 1, 2, 3, 4
SEED_VIEW_STRIDE = 8  # > every purpose tag: view v of a purpose draws from tag purpose + 8 v (view_purpose)
SEED_STRIDE = 1_000_003  # a prime > any l, so (purpose, frame) pairs never collide for one video
SEED_MODULUS = 2**62  # seeds stay non-negative int64 (torch.Generator.manual_seed)

# PenaltyWeight defaults (the authors' growth rule, Appendix C.1); the config carries the same values.
PENALTY_GROWTH = 5.0
PENALTY_GROWTH_THRESHOLD = 100.0
PENALTY_GROWTH_INTERVAL = 500


# --- Eq. (4)-(5) on logits ----------------------------------------------------------------------------------

def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. (4): -mean D(fake), logits of any shape (N,) or (N, K)."""
    return -fake_logits.float().mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor
                             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (5): mean relu(1 - D(real)) + mean relu(1 + D(fake)); returns (loss, terms)."""
    loss_real = F.relu(HINGE_MARGIN - real_logits.float()).mean()
    loss_fake = F.relu(HINGE_MARGIN + fake_logits.float()).mean()
    return loss_real + loss_fake, {"d_loss_real": loss_real.detach(), "d_loss_fake": loss_fake.detach()}


# --- per-sample seeds ---------------------------------------------------------------------------------------

def frame_seeds(video_seeds: torch.Tensor, l: int, purpose: int) -> list[int]:
    """One seed per frame (B*l, video-major) from one per video (B,) and a purpose tag (``SEED_*``)."""
    if video_seeds.ndim != 1:
        raise ValueError(f"video_seeds must be one seed per video (B,); got shape {tuple(video_seeds.shape)}")
    if l < 1:
        raise ValueError(f"l={l} frames per video must be >= 1")
    return [
        (int(s) + purpose * SEED_STRIDE + j) % SEED_MODULUS for s in video_seeds.tolist() for j in range(l)
    ]


def view_purpose(purpose: int, view: int) -> int:
    """The purpose tag of augmented view ``view`` of ``purpose`` (view 0: the tag itself), distinct from every
    other (purpose, view) pair."""
    return purpose + SEED_VIEW_STRIDE * view


def _more_views(disc: ImageDiscriminator, images: torch.Tensor, first: list[torch.Tensor], video_seeds: torch.Tensor,
                l: int, purpose: int) -> list[torch.Tensor]:
    """Backbone features of ``disc.config.augment_views`` augmented views of ``images``, view-major (N * views, D,
    L) per block, given view 0's (``first``); view v is augmented from the seeds of ``view_purpose(purpose, v)``."""
    rest = [disc.features(preprocess_per_sample(disc, images, frame_seeds(video_seeds, l, view_purpose(purpose, v))))
            for v in range(1, disc.config.augment_views)]
    return [torch.cat(parts) for parts in zip(first, *rest)]


def _per_view(text_embed: Optional[torch.Tensor], views: int) -> Optional[torch.Tensor]:
    """The text embeddings (N, D) of one view repeated for ``views`` view-major views (None stays None)."""
    return text_embed if text_embed is None or views == 1 else text_embed.repeat(views, 1)


def seeded_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(seed)


def preprocess_per_sample(disc: ImageDiscriminator, images: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """Augment + resize + normalise each image (N, 3, H, W) with its own seeded generator -> (N, 3, S, S)."""
    if len(seeds) != images.shape[0]:
        raise ValueError(f"got {len(seeds)} seeds for {images.shape[0]} images")
    return torch.cat([
        disc.preprocess(images[i : i + 1], augment=True, generator=seeded_generator(seed, images.device))
        for i, seed in enumerate(seeds)
    ])


def _frames_per_video(n_images: int, video_seeds: torch.Tensor) -> int:
    """l such that n_images = B * l, B = len(video_seeds)."""
    if video_seeds.ndim != 1 or video_seeds.shape[0] == 0:
        raise ValueError(f"video_seeds must be a non-empty (B,) tensor; got shape {tuple(video_seeds.shape)}")
    n_videos = video_seeds.shape[0]
    if n_images % n_videos != 0:
        raise ValueError(f"{n_images} images do not split into l frames for each of the {n_videos} video_seeds")
    return n_images // n_videos


# --- gradient penalties (Appendix C.1) ----------------------------------------------------------------------

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
    return ((_per_sample_norm(list(grads)) - GP_TARGET_NORM) ** 2).mean()


def wgan_gp_penalty(disc: ImageDiscriminator, real_pixels: torch.Tensor, fake_pixels: torch.Tensor,
                    text_embed: Optional[torch.Tensor], seeds: list[int],
                    real_features: Optional[list[torch.Tensor]] = None,
                    fake_features: Optional[list[torch.Tensor]] = None) -> torch.Tensor:
    """The authors' penalty at interpolates of real and fake, alpha_i ~ U[0, 1) drawn from ``seeds[i]``.

    ``real_pixels``/``fake_pixels`` are *preprocessed* backbone inputs (N, 3, S, S), paired row by row and
    conditioned on ``text_embed`` (N, D) (the fakes'). With ``gp_interpolation='features'`` the DINO features
    are interpolated instead (computed here without gradients unless given)."""
    n = real_pixels.shape[0]
    if fake_pixels.shape[0] != n or len(seeds) != n:
        raise ValueError(f"real_pixels ({n}), fake_pixels ({fake_pixels.shape[0]}) and seeds ({len(seeds)}) "
                         "must pair up")
    device = real_pixels.device
    alpha = torch.cat([torch.rand(1, generator=seeded_generator(s, device), device=device) for s in seeds])
    if disc.config.gp_interpolation == "features":
        if real_features is None or fake_features is None:
            with torch.no_grad():
                real_features, fake_features = disc.features(real_pixels), disc.features(fake_pixels)
        feats = [torch.lerp(f.float(), r.float(), alpha.view(-1, 1, 1)) for r, f in zip(real_features, fake_features)]
    else:
        mix = torch.lerp(fake_pixels.float(), real_pixels.float(), alpha.view(-1, 1, 1, 1))
        with torch.no_grad():
            feats = disc.features(mix)
    return wgan_gp_from_features(disc, feats, text_embed)


def r1_penalty(disc: ImageDiscriminator, real_images: torch.Tensor, text_embed: Optional[torch.Tensor],
               seeds: list[int]) -> torch.Tensor:
    """mean_i ||grad_x sum D(x_i)||^2 on real images (N, 3, H, W) in [-1, 1], each augmented from ``seeds[i]``
    (the same view as the hinge's), double backward through the backbone."""
    x = real_images.detach().float().requires_grad_(True)
    pixels = preprocess_per_sample(disc, x, seeds)
    logits = torch.cat(disc.head_logits(disc.features(pixels), text_embed), dim=1)
    (grad,) = torch.autograd.grad(logits.float().sum(), x, create_graph=True)
    return grad.flatten(1).square().sum(dim=1).mean()


# --- the penalty weight: checkpointed state grown by the trainer --------------------------------------------

class PenaltyWeight:
    """The gradient-penalty weight and its growth rule (Appendix C.1, the authors' code: x5 when the penalty
    reaches 100, at most once per 500 steps). Every rank must keep one weight: ``update`` either averages the
    penalty over ranks itself (``reduce=True``) or trusts the caller's already rank-averaged value."""

    def __init__(self, weight: float, growth: float = PENALTY_GROWTH, threshold: float = PENALTY_GROWTH_THRESHOLD,
                 interval: int = PENALTY_GROWTH_INTERVAL):
        if weight < 0:
            raise ValueError(f"weight={weight} must be >= 0")
        self.weight, self.growth, self.threshold, self.interval = float(weight), growth, threshold, interval
        self.last_growth_step = 0

    @classmethod
    def from_config(cls, cfg) -> "PenaltyWeight":
        return cls(cfg.penalty_weight, cfg.penalty_growth, cfg.penalty_growth_threshold, cfg.penalty_growth_interval)

    def update(self, penalty: torch.Tensor | float, step: int, reduce: bool = True) -> bool:
        """Grow the weight if due; returns whether it grew.

        The interval is checked first (the same on every rank), so the penalty is only read (a device sync)
        when a growth is possible. ``reduce=True`` all-reduces it (mean over ranks) under torch.distributed;
        ``reduce=False`` uses ``penalty`` as given: pass a value already averaged over ranks (e.g. the logged
        ``d_penalty``), and no collective is issued.
        """
        if step - self.last_growth_step < self.interval:
            return False
        if reduce and dist.is_available() and dist.is_initialized():
            value = torch.as_tensor(penalty, dtype=torch.float32).detach().clone()
            if value.device.type == "cpu" and dist.get_backend() == "nccl":
                value = value.cuda()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= dist.get_world_size()
            penalty = value
        if float(penalty) >= self.threshold:
            self.weight *= self.growth
            self.last_growth_step = step
            return True
        return False

    def state_dict(self) -> dict[str, float | int]:
        return {"weight": self.weight, "last_growth_step": self.last_growth_step}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.weight = float(state["weight"])
        self.last_growth_step = int(state["last_growth_step"])


# --- the discriminator's step -------------------------------------------------------------------------------

def discriminator_loss(disc: ImageDiscriminator, real: torch.Tensor, real_text: Optional[torch.Tensor],
                       fake: torch.Tensor, fake_text: Optional[torch.Tensor], video_seeds: torch.Tensor,
                       penalty_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (5) hinge + ``penalty_weight`` x gradient penalty (Appendix C.1) for one micro-batch.

    ``real`` (B*l, 3, H, W): real images (of M, or frames of V) paired with ``fake`` (B*l, 3, H, W), the decoded
    sparse frames, both in [-1, 1], video-major; ``real_text``/``fake_text``: (B*l, text_dim) or None;
    ``video_seeds`` (B,): one seed per video, from which every augmentation and interpolation weight is drawn
    (:func:`frame_seeds`), so splitting the batch over ranks changes nothing. ``penalty_weight``: the current
    :attr:`PenaltyWeight.weight`; this function never grows it (the trainer does, from the rank-averaged
    ``d_penalty``, at its logging interval) and never syncs the host or calls torch.distributed.

    With ``config.augment_views`` = k > 1 every real and fake image is augmented k times (view-major, view 0 as
    with one view): the hinge averages over all views, the penalty is taken on view 0.

    The fakes are detached here (no gradient reaches the generator); the backbone runs without gradients
    except in R1's double backward. Returns (loss, detached terms: d_loss_real, d_loss_fake, d_real_score,
    d_fake_score, d_penalty and d_penalty_weight unless ``config.penalty='none'``, d_loss).
    """
    if isinstance(penalty_weight, PenaltyWeight):
        raise TypeError("penalty_weight must be a float: pass PenaltyWeight.weight (the trainer grows it)")
    if penalty_weight < 0:
        raise ValueError(f"penalty_weight={penalty_weight} must be >= 0")
    if real.shape[0] != fake.shape[0]:
        raise ValueError(f"real images ({real.shape[0]}) and fake frames ({fake.shape[0]}) must pair up")
    cfg, l = disc.config, _frames_per_video(fake.shape[0], video_seeds)
    fake = fake.detach()
    real_seeds = frame_seeds(video_seeds, l, SEED_REAL)
    with torch.no_grad():
        real_pixels = preprocess_per_sample(disc, real, real_seeds)
        fake_pixels = preprocess_per_sample(disc, fake, frame_seeds(video_seeds, l, SEED_FAKE_D))
        real_feats, fake_feats = disc.features(real_pixels), disc.features(fake_pixels)
        if cfg.augment_views > 1:  # view 0 is the one-view step's; the others follow, view-major
            real_feats = _more_views(disc, real, real_feats, video_seeds, l, SEED_REAL)
            fake_feats = _more_views(disc, fake, fake_feats, video_seeds, l, SEED_FAKE_D)
    real_logits = torch.cat(disc.head_logits(real_feats, _per_view(real_text, cfg.augment_views)), dim=1)
    fake_logits = torch.cat(disc.head_logits(fake_feats, _per_view(fake_text, cfg.augment_views)), dim=1)
    loss, terms = hinge_discriminator_loss(real_logits, fake_logits)
    terms["d_real_score"] = real_logits.detach().float().mean()
    terms["d_fake_score"] = fake_logits.detach().float().mean()
    if cfg.penalty != "none":
        if cfg.penalty == "r1":
            penalty = r1_penalty(disc, real, real_text, real_seeds)
        else:  # on view 0 only: its cost does not grow with the views
            n = real.shape[0]
            penalty = wgan_gp_penalty(disc, real_pixels, fake_pixels, fake_text, frame_seeds(video_seeds, l, SEED_GP),
                                      [f[:n] for f in real_feats], [f[:n] for f in fake_feats])
        loss = loss + float(penalty_weight) * penalty
        terms["d_penalty"] = penalty.detach()
        # a fill on the loss's device: no host-to-device copy, hence no sync
        terms["d_penalty_weight"] = torch.full((), float(penalty_weight), device=loss.device)
    terms["d_loss"] = loss.detach()
    return loss, terms
