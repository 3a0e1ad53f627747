"""The DINOv2 backbone's input convention: images in [0, 1] resized to the backbone's side, then ImageNet-normalised.

The discriminator applies it after its augmentation (``mcm.discriminator.model``), and the world's backbone
training applies it to the frames it trains on (``mcm.world.backbone_ssl``), so both feed the backbone alike.
Images are (N, 3, H, W).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(x01: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std with ImageNet statistics, x in [0, 1], shape (N, 3, H, W)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x01.device, dtype=x01.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x01.device, dtype=x01.dtype).view(1, 3, 1, 1)
    return (x01 - mean) / std


def resize_for_backbone(x01: torch.Tensor, image_size: int, mode: str = "area", random_crop_prob: float = 0.0,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Optionally crop (one random image_size crop for the batch, with probability ``random_crop_prob``, only
    when the images are larger), then resize (N, 3, H, W) to (N, 3, image_size, image_size)."""
    n, c, h, w = x01.shape
    if random_crop_prob > 0 and h > image_size and w > image_size:
        draw = torch.rand((), generator=generator, device=x01.device)
        if draw.item() < random_crop_prob:
            top = int(torch.randint(0, h - image_size + 1, (), generator=generator, device=x01.device))
            left = int(torch.randint(0, w - image_size + 1, (), generator=generator, device=x01.device))
            x01 = x01[:, :, top:top + image_size, left:left + image_size]
    if x01.shape[-2:] != (image_size, image_size):
        kwargs = {} if mode in ("area", "nearest") else {"align_corners": False}
        x01 = F.interpolate(x01, size=(image_size, image_size), mode=mode, **kwargs)
    return x01
