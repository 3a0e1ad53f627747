"""Layers shared by the evaluation networks: input resizing and normalisation, conv stacks, pooling.

Inputs are float in [0, 1]; any H = W is resized to ``INPUT_SIZE`` (area averaging when it divides, antialiased
bilinear otherwise) and mapped to [-1, 1] before the first layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mcm.world.evalnets.config import INPUT_SCALE, INPUT_SHIFT, INPUT_SIZE

#: Modules per conv layer of ``conv_stack`` (conv, BatchNorm, ReLU).
LAYER_MODULES = 3


def resize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, INPUT_SIZE, INPUT_SIZE): area averaging when the size divides, else bilinear."""
    h, w = x.shape[-2:]
    if (h, w) == (INPUT_SIZE, INPUT_SIZE):
        return x
    if h % INPUT_SIZE == 0 and w % INPUT_SIZE == 0:
        return F.adaptive_avg_pool2d(x, INPUT_SIZE)
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)


def resize_video(v: torch.Tensor) -> torch.Tensor:
    n, f = v.shape[:2]
    return resize(v.reshape(n * f, *v.shape[2:])).reshape(n, f, 3, INPUT_SIZE, INPUT_SIZE)


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - INPUT_SHIFT) * INPUT_SCALE


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Channels-last layout (several times faster for CPU convolutions)."""
    return x.contiguous(memory_format=torch.channels_last)


def conv_stack(cin: int, widths: list[int], strides: tuple[int, ...], what: str) -> nn.Sequential:
    """Conv, BatchNorm, ReLU per width: 3x3 for stride 1, 4x4 for stride 2 (halves the side exactly)."""
    if len(widths) > len(strides):
        raise ValueError(f"{what}: at most {len(strides)} layers, got widths {widths}")
    layers: list[nn.Module] = []
    for w, s in zip(widths, strides):
        conv = nn.Conv2d(cin, w, 3, 1, 1) if s == 1 else nn.Conv2d(cin, w, 2 * s, s, s // 2)
        layers += [conv, nn.BatchNorm2d(w), nn.ReLU()]
        cin = w
    return nn.Sequential(*layers)


def mean_max(h: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Concatenation of the mean and the max over ``dims`` (channels stay on dim 1)."""
    return torch.cat([h.mean(dim=dims), h.amax(dim=dims)], dim=1)
