"""Frame selection and resizing shared by the video metrics.

Videos are (F, C, H, W) float in [0, 1] (one video) or (N, F, C, H, W) (a batch); a batch may also be a
list of single videos of different sizes (reference videos).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from mcm.eval.config import ClipSampling


def as_video_list(videos: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """(N, F, C, H, W) tensor or list of (F, C, H, W) -> list of (F, C, H, W)."""
    if isinstance(videos, torch.Tensor):
        if videos.ndim != 5:
            raise ValueError(f"videos must be (N, F, C, H, W), got shape {tuple(videos.shape)}")
        return list(videos.unbind(0))
    out = list(videos)
    for i, v in enumerate(out):
        if v.ndim != 4:
            raise ValueError(f"video {i} must be (F, C, H, W), got shape {tuple(v.shape)}")
    return out


def clip_indices(num_available: int, num_frames: int, sampling: ClipSampling) -> list[int]:
    """Indices of the ``num_frames`` frames a clip keeps from a video of ``num_available`` frames."""
    if num_available < num_frames:
        raise ValueError(f"video has {num_available} frames, the protocol needs num_frames={num_frames}")
    if sampling == "first":
        return list(range(num_frames))
    if sampling == "center":
        start = (num_available - num_frames) // 2
        return list(range(start, start + num_frames))
    if sampling == "uniform":
        if num_frames == 1:
            return [0]
        return [round(i * (num_available - 1) / (num_frames - 1)) for i in range(num_frames)]
    raise ValueError(f"clip_sampling must be 'first', 'center' or 'uniform', got {sampling!r}")


def even_indices(num_available: int, count: int | None) -> list[int]:
    """``count`` evenly spaced indices (linspace, rounded) or all of them when count is None."""
    if count is None or count >= num_available:
        return list(range(num_available))
    return clip_indices(num_available, count, "uniform")


def resize_frames(frames: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Resize (T, C, H, W) to (T, C, size, size) with bilinear interpolation (no antialias).

    ``short_side_crop``: scale the short side to ``size`` (long side rounded up) then center crop;
    ``squash``: resize both sides to ``size``.
    """
    h, w = frames.shape[-2:]
    if mode == "squash":
        if (h, w) == (size, size):
            return frames
        return F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    if mode != "short_side_crop":
        raise ValueError(f"resize_mode must be 'short_side_crop' or 'squash', got {mode!r}")
    scale = size / min(h, w)
    target = (size, math.ceil(w * scale)) if h <= w else (math.ceil(h * scale), size)
    if target != (h, w):
        frames = F.interpolate(frames, size=target, mode="bilinear", align_corners=False)
    top, left = (frames.shape[-2] - size) // 2, (frames.shape[-1] - size) // 2
    return frames[..., top : top + size, left : left + size]
