"""Differentiable augmentation and DINOv2 preprocessing of discriminator inputs (Appendix C.1).

Both real and fake images go through the same random augmentation (DiffAugment policy
"color,translation,cutout", as in StyleGAN-T [47], ADD [48] and the authors' code), then to [0, 1], an
optional random crop when larger than the backbone size, a resize to the backbone size (224 for ViT-S/14)
and ImageNet normalisation. Every step is differentiable with respect to the image, so the generator's
adversarial gradient reaches the decoded frames. Images are (N, 3, H, W) in [-1, 1]; parameters are drawn
per sample (colour, shift, cutout position) from ``generator`` when given.

The resize and the normalisation are the backbone's input convention (:mod:`mcm.backbone.preprocess`),
re-exported here.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

# The backbone's input convention lives beside the backbone (shared with the world's backbone training);
# re-exported here, where the discriminator's preprocessing always offered it.
from mcm.backbone.preprocess import IMAGENET_MEAN, IMAGENET_STD, imagenet_normalize, resize_for_backbone  # noqa: F401

# DiffAugment ranges (Zhao et al. 2020): brightness +U(-0.5, 0.5), saturation xU(0, 2), contrast xU(0.5, 1.5)
BRIGHTNESS_RANGE = 0.5
SATURATION_MAX = 2.0
CONTRAST_RANGE = (0.5, 1.5)


def _uniform(x: torch.Tensor, low: float, high: float, generator: Optional[torch.Generator]) -> torch.Tensor:
    """(N, 1, 1, 1) uniform draws in [low, high) on x's device and dtype."""
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device, dtype=torch.float32)
    return (low + (high - low) * u).to(x.dtype)


def rand_brightness(x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Add one random offset in [-0.5, 0.5) per image."""
    return x + _uniform(x, -BRIGHTNESS_RANGE, BRIGHTNESS_RANGE, generator)


def rand_saturation(x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Scale each pixel's deviation from its channel mean by a random factor in [0, 2)."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _uniform(x, 0.0, SATURATION_MAX, generator) + mean


def rand_contrast(x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Scale each image's deviation from its mean by a random factor in [0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _uniform(x, *CONTRAST_RANGE, generator) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Shift each image by random integers in [-ratio*H, ratio*H] x [-ratio*W, ratio*W], zero fill."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    ty = torch.randint(-sy, sy + 1, (n, 1, 1), generator=generator, device=x.device)
    tx = torch.randint(-sx, sx + 1, (n, 1, 1), generator=generator, device=x.device)
    padded = F.pad(x, (sx, sx, sy, sy))  # (N, C, H + 2sy, W + 2sx)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + sy - ty  # out(y) = in(y - ty)
    cols = torch.arange(w, device=x.device).view(1, 1, w) + sx - tx
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def rand_cutout(x: torch.Tensor, ratio: float = 0.2, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Zero one random (ratio*H) x (ratio*W) rectangle per image (it may overlap the border)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if ch == 0 or cw == 0:
        return x
    cy = torch.randint(0, h, (n, 1, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (n, 1, 1), generator=generator, device=x.device)
    y0, x0 = cy - ch // 2, cx - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


AUGMENT_POLICIES: dict[str, tuple[Callable[..., torch.Tensor], ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def diff_augment(x: torch.Tensor, policy: Sequence[str] = ("color", "translation", "cutout"),
                 translation_ratio: float = 0.125, cutout_ratio: float = 0.2,
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Apply the named augmentations in order to images (N, C, H, W); differentiable in x."""
    for name in policy:
        if name not in AUGMENT_POLICIES:
            raise ValueError(f"augment policy {name!r} is unknown; choose from {sorted(AUGMENT_POLICIES)}")
        for fn in AUGMENT_POLICIES[name]:
            if fn is rand_translation:
                x = fn(x, translation_ratio, generator)
            elif fn is rand_cutout:
                x = fn(x, cutout_ratio, generator)
            else:
                x = fn(x, generator)
    return x
