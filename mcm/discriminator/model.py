"""The image discriminator D_psi of Eq. (4)-(5): frozen DINOv2 + one trainable head per block (App. C.1).

    images (N, 3, H, W) in [-1, 1]
      -> DiffAugment (colour, translation, cutout)              augment.py, same for real and fake
      -> [0, 1], random crop, resize to 224, ImageNet norm      augment.py
      -> DINOv2 tokens of blocks 2, 5, 8, 11 (N, D, L) each     backbone.py (frozen)
      -> head_k(tokens_k, c) -> patch logits (N, L)             heads.py, c = CLIP text embedding (N, text_dim)

``disc(images, text)`` returns the patch logits of all heads concatenated, (N, sum_k L_k): the losses of
``loss.py`` apply the hinge per patch logit and average (the authors' form). ``disc.score(images, text)``
gives one logit per image (N,), the mean over patches and heads.

Only the heads are trained (``trainable_parameters()``); the backbone is frozen and is not part of
``trainable_state_dict()``. For the generator's step use :func:`frozen` so that no gradient or state of
the discriminator changes while the generator's loss backpropagates through it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

from mcm.discriminator.augment import diff_augment, imagenet_normalize, resize_for_backbone
from mcm.discriminator.backbone import DinoFeatureExtractor
from mcm.discriminator.config import DiscriminatorConfig
from mcm.discriminator.heads import DiscriminatorHead

SEED_LIMIT = 2**64  # torch.manual_seed accepts seeds in [0, 2**64)


class ImageDiscriminator(nn.Module):
    """D_psi: frozen DINOv2 features, trainable text-conditioned heads (see module docstring)."""

    def __init__(self, config: DiscriminatorConfig, backbone: Optional[DinoFeatureExtractor] = None,
                 head_seed: Optional[int] = None):
        super().__init__()
        self.config = config
        self.backbone = backbone if backbone is not None else DinoFeatureExtractor.from_config(config)
        with _seeded_rng(head_seed):
            self.heads = nn.ModuleDict({
                f"block{b}": DiscriminatorHead(
                    self.backbone.hidden_size, config.head_channels, config.text_embed_dim, config.cmap_dim,
                    config.head_kernel_size, config.virtual_batch_size, config.leaky_relu_slope,
                )
                for b in self.backbone.feature_blocks
            })

    # --- the pipeline, step by step -------------------------------------------------------------------------

    def preprocess(self, images: torch.Tensor, augment: bool = True,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Images (N, 3, H, W) in [-1, 1] -> backbone input (N, 3, S, S), S = ``config.image_size``."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"discriminator images must be (N, 3, H, W) in [-1, 1]; got {tuple(images.shape)}")
        cfg = self.config
        x = images
        if augment and cfg.augment_policy:
            x = diff_augment(x, cfg.augment_policy, cfg.translation_ratio, cfg.cutout_ratio, generator)
        x = (x + 1.0) * 0.5
        x = resize_for_backbone(x, cfg.image_size, cfg.resize_mode, cfg.random_crop_prob if augment else 0.0,
                                generator)
        return imagenet_normalize(x)

    def features(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        """Backbone tokens, one (N, D, L) per feature block."""
        return self.backbone(pixels.to(self.backbone.dtype))

    def head_logits(self, features: list[torch.Tensor], text_embed: Optional[torch.Tensor]) -> list[torch.Tensor]:
        """Patch logits (N, L_k) of each head."""
        if len(features) != len(self.heads):
            raise ValueError(f"got {len(features)} feature maps for {len(self.heads)} heads")
        return [head(f, text_embed) for head, f in zip(self.heads.values(), features)]

    # --- the usual entry points -----------------------------------------------------------------------------

    def forward(self, images: torch.Tensor, text_embed: Optional[torch.Tensor] = None, augment: bool = True,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Patch logits of all heads, concatenated: (N, sum_k L_k)."""
        feats = self.features(self.preprocess(images, augment, generator))
        return torch.cat(self.head_logits(feats, text_embed), dim=1)

    def score(self, images: torch.Tensor, text_embed: Optional[torch.Tensor] = None, augment: bool = False,
              generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """One logit per image (N,): the mean over patches and heads (heads have equal token counts)."""
        return self.forward(images, text_embed, augment, generator).mean(dim=1)

    # --- training state --------------------------------------------------------------------------------------

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The heads' parameters (the backbone is frozen)."""
        return list(self.heads.parameters())

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """State of the heads only (weights and spectral-norm vectors); save it with every checkpoint."""
        return self.heads.state_dict()

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.heads.load_state_dict(state)

    def make_optimizer(self) -> torch.optim.Optimizer:
        """Its own AdamW (lr 5e-5, weight decay 0 by default) over the heads."""
        cfg = self.config
        return torch.optim.AdamW(self.trainable_parameters(), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps,
                                 weight_decay=cfg.weight_decay)

    def train(self, mode: bool = True) -> "ImageDiscriminator":
        super().train(mode)
        self.backbone.eval()
        return self


def build_discriminator(config: Optional[DiscriminatorConfig] = None, backbone: Optional[DinoFeatureExtractor] = None,
                        seed: Optional[int] = None) -> ImageDiscriminator:
    """Build D_psi (Eq. 4-5, Appendix C.1) from its config; ``backbone`` defaults to the config's (loaded, or the
    tiny random one, itself seeded by ``tiny_backbone.seed``).

    ``seed`` initialises the trainable heads (weights and spectral-norm vectors) from that seed alone, without
    reading or advancing the global RNG, so every rank builds the same heads whatever it drew before (pass
    the same seed on every rank; nothing is broadcast). ``None`` draws them from the global RNG (the legacy
    behaviour: ranks then agree only if they consumed that RNG identically).
    """
    return ImageDiscriminator(config or DiscriminatorConfig(), backbone=backbone, head_seed=seed)


@contextlib.contextmanager
def _seeded_rng(seed: Optional[int]) -> Iterator[None]:
    """Within the block the CPU RNG starts from ``seed``; on exit the global RNG is as before. No-op if None.

    The heads are built on the CPU, so only the CPU generator is forked (``devices=[]``)."""
    if seed is None:
        yield
        return
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed={seed} must lie in [0, 2**64)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Use ``module`` without touching it: parameters get ``requires_grad=False`` and the module goes to eval
    mode (no spectral-norm power iteration), both restored on exit.

    Wrap the discriminator's forward in the generator step: the generator's adversarial loss still
    backpropagates through D to the fake images, but D's ``.grad`` stays None and its buffers unchanged.
    Under DDP call the unwrapped module here (a DDP-wrapped D would expect a backward for its own step).
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    modes = [(m, m.training) for m in module.modules()]
    module.requires_grad_(False)
    module.eval()
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, mode in modes:
            m.training = mode
