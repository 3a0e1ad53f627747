"""``watermark`` and ``style``: the frame detectors.

``watermark``: frames -> probability that V's fixed-place watermark is present (a position-aware CNN: its last
layer sees the whole feature map, not a pooled vector). ``style``: frames -> probability that the frame is the
styled rendering.
"""

from __future__ import annotations

import torch
from torch import nn

from mcm.world.evalnets.config import INPUT_SIZE
from mcm.world.evalnets.layers import channels_last, conv_stack, mean_max, normalise


class SpotNet(nn.Module):
    """A frame -> one logit detector (watermark or style): stride-2 convs, then one linear layer.

    ``pooled=False`` (watermark) keeps the layout: the linear layer sees the whole final map, so it can look
    at the watermark's fixed place. ``pooled=True`` (style) takes mean and max over space first.
    """

    def __init__(self, widths: list[int], pooled: bool) -> None:
        super().__init__()
        strides = (2,) * len(widths)
        self.body = conv_stack(3, widths, strides, "spot.widths")
        side = INPUT_SIZE // 2 ** len(widths)
        self.pooled = pooled
        self.head = nn.Linear(2 * widths[-1] if pooled else widths[-1] * side * side, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h = self.body(channels_last(normalise(frames)))
        h = mean_max(h, (2, 3)) if self.pooled else h.flatten(1)
        return self.head(h).squeeze(1)
