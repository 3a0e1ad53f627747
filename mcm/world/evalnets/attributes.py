"""``attributes``: the video attribute classifier (the CLIPSIM stand-in).

(N, F, 3, H, W) -> logits of shape, colour and direction (4 each). Two pathways: an appearance 2D CNN per frame
(max over space, mean over frames) feeds the shape and colour heads; a motion 2D CNN on consecutive pairs
[frame_t, frame_t+1 - frame_t] (half resolution, max over space, mean over pairs) feeds the direction head.
Trained on clean, V-degraded (with and without the watermark), noisy and styled clips, so it reads the content
of generated videos whatever their quality.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mcm.world.evalnets.config import NUM_CLASSES
from mcm.world.evalnets.layers import channels_last, conv_stack, normalise

#: Strides of the appearance pathway (per frame, from 32x32) and of the motion pathway (frame pairs at half
#: resolution).
APPEARANCE_STRIDES = (2, 1, 2, 1, 1, 1)
MOTION_STRIDES = (2, 2, 1, 1)
#: Downsampling of the attribute net's motion pathway input (frame differences need no fine detail).
MOTION_DOWNSAMPLE = 2


class AttributeNet(nn.Module):
    """The attribute classifier (CLIPSIM stand-in): two pathways, each max-pooled over space.

    Appearance: a per-frame 2D CNN (``widths``), max over space, mean over frames -> shape and colour heads.
    Motion: a 2D CNN (``motion_widths``) on pairs [frame_t, frame_t+1 - frame_t] at half resolution, max over
    space, mean over the F - 1 pairs -> direction head. Keeping the frame differences out of the shape and
    colour heads (and single frames out of the direction head's reach for shape) stops the heads from
    learning the seen-combination shortcut "shape = the one not held out for this colour and direction",
    which is always wrong on the zero-shot combinations. Not the discriminator's backbone.

    In training ``frames``/``pairs`` (N, K) pick K frames / pairs per clip (cheaper steps); at inference all
    are used.
    """

    def __init__(self, widths: list[int], motion_widths: list[int]) -> None:
        super().__init__()
        if not motion_widths:
            raise ValueError("the attribute network needs motion_widths")
        self.appearance = conv_stack(3, widths, APPEARANCE_STRIDES, "attributes.widths")
        self.motion = conv_stack(6, motion_widths, MOTION_STRIDES, "attributes.motion_widths")
        self.heads = nn.ModuleDict({
            "shape": nn.Linear(widths[-1], NUM_CLASSES["shape"]),
            "colour": nn.Linear(widths[-1], NUM_CLASSES["colour"]),
            "direction": nn.Linear(motion_widths[-1], NUM_CLASSES["direction"]),
        })

    def forward(self, videos: torch.Tensor, frames: Optional[torch.Tensor] = None,
                pairs: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        n, f = videos.shape[:2]
        if f < 2:
            raise ValueError(f"the attribute network needs at least 2 frames, got {f}")
        rows = torch.arange(n, device=videos.device)[:, None]
        x = normalise(videos)
        sel = x if frames is None else x[rows, frames]
        app = self.appearance(channels_last(sel.flatten(0, 1))).amax(dim=(2, 3))
        app = app.reshape(n, sel.shape[1], -1).mean(dim=1)
        lo = F.avg_pool2d(x.flatten(0, 1), MOTION_DOWNSAMPLE).unflatten(0, (n, f))
        pair = torch.cat([lo[:, :-1], lo[:, 1:] - lo[:, :-1]], dim=2)
        if pairs is not None:
            pair = pair[rows, pairs]
        mot = self.motion(channels_last(pair.flatten(0, 1))).amax(dim=(2, 3))
        mot = mot.reshape(n, pair.shape[1], -1).mean(dim=1)
        return {"shape": self.heads["shape"](app), "colour": self.heads["colour"](app),
                "direction": self.heads["direction"](mot)}
