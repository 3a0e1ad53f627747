"""``frame``: the frame feature network (the Inception stand-in).

A per-frame 2D CNN whose mean- and max-pooled last activations (``frame_dim``) define our frame-quality
distance to M (FID). Trained to predict shape, colour, look, watermark, noise, object position and size.
"""

from __future__ import annotations

import torch
from torch import nn

from mcm.world.evalnets.config import BASES
from mcm.world.evalnets.layers import channels_last, conv_stack, mean_max, normalise

#: Strides of the frame net's convolutions (the fvd net's spatial convolutions are the same).
FRAME_STRIDES = (2, 1, 2, 1, 1, 1)
#: Heads of the frame net (training only).
FRAME_HEADS = {"shape": 4, "colour": 4, "look": len(BASES), "watermark": 1, "noise": 1, "position": 2,
               "size": 1}


class FrameNet(nn.Module):
    """The frame feature network (Inception stand-in): a per-frame 2D CNN.

    Features (``dim`` = 2 x widths[-1]): mean and max of the last activations over space. Heads (training
    only): FRAME_HEADS. Not the discriminator's backbone.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.body = conv_stack(3, widths, FRAME_STRIDES, "frame.widths")
        self.dim = 2 * widths[-1]
        self.heads = nn.ModuleDict({k: nn.Linear(self.dim, n) for k, n in FRAME_HEADS.items()})

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        return mean_max(self.body(channels_last(normalise(frames))), (2, 3))

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(frames)
        return {k: head(h) for k, head in self.heads.items()}
