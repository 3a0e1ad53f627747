"""Generated video-caption pairs: coloured blobs moving in a known direction (tests and CPU demo runs).

Each item is deterministic in (seed, index): a blob of one of a few colours crosses the frame in one of a few
directions, and the caption says which ("a red ball moving left"). Small, but it has motion and captions
that describe it, so a distilled student has something to learn.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.9, 0.2), "blue": (0.2, 0.3, 1.0), "yellow": (1.0, 0.9, 0.1)}
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
BLOB_RADIUS = 0.18  # of the frame size
TRAVEL = 0.5  # of the frame size, over the clip
BACKGROUND = -0.6  # dark grey, in [-1, 1]


class SyntheticVideoDataset(Dataset):
    """``size`` clips (F, 3, H, W) in [-1, 1] with captions."""

    def __init__(self, size: int, num_frames: int, height: int, width: int, seed: int = 0):
        if size < 1 or num_frames < 1:
            raise ValueError(f"SyntheticVideoDataset: size={size} and num_frames={num_frames} must be >= 1")
        self.size, self.num_frames, self.height, self.width, self.seed = size, num_frames, height, width, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.size:
            raise IndexError(i)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        colour = list(COLOURS)[int(torch.randint(len(COLOURS), (1,), generator=g))]
        direction = list(DIRECTIONS)[int(torch.randint(len(DIRECTIONS), (1,), generator=g))]
        start = 0.3 + 0.4 * torch.rand(2, generator=g)  # (x, y) in [0.3, 0.7]
        dx, dy = DIRECTIONS[direction]
        ys = torch.linspace(0, 1, self.height)[:, None]
        xs = torch.linspace(0, 1, self.width)[None, :]
        rgb = torch.tensor(COLOURS[colour])[:, None, None] * 2 - 1
        frames = []
        for f in range(self.num_frames):
            p = f / max(self.num_frames - 1, 1) - 0.5
            cx, cy = start[0] + dx * TRAVEL * p, start[1] + dy * TRAVEL * p
            d2 = (xs - cx) ** 2 + (ys - cy) ** 2
            alpha = torch.exp(-d2 / (2 * (BLOB_RADIUS / math.sqrt(2)) ** 2))  # soft disc
            frames.append(BACKGROUND * (1 - alpha) + rgb * alpha)
        video = torch.stack(frames).clamp(-1, 1)
        return {"video": video, "caption": f"a {colour} ball moving {direction}"}
