"""``fvd``: the video feature network (the I3D stand-in) and its temporal convolution.

A (2+1)D CNN on frames and their time derivative: the frame net's layers inflated with residual temporal
convolutions and fine-tuned on videos. The mean and max of its last activations over time and space
(``fvd_dim``) define our Fréchet video distance. Trained to predict the attributes, the look (clean / degraded /
styled), watermark, noise, the speed and whether the frames were shuffled, so its features move with content,
motion, temporal coherence and quality.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mcm.world.evalnets.config import BASES
from mcm.world.evalnets.frame import FRAME_STRIDES
from mcm.world.evalnets.layers import LAYER_MODULES, channels_last, conv_stack, mean_max, normalise

#: Strides of the spatial convolutions.
VIDEO_STRIDES = FRAME_STRIDES  # the fvd net inflates the frame net
#: Kernel length of the fvd net's temporal convolutions (frames).
TEMPORAL_KERNEL = 3
#: Heads of the fvd net (training only): name -> outputs; classification heads use cross-entropy, the
#: binary ones BCE, speed MSE.
FVD_HEADS = {"shape": 4, "colour": 4, "direction": 4, "look": len(BASES), "watermark": 1, "noise": 1,
             "shuffled": 1, "speed": 1}


class TemporalConv(nn.Module):
    """Residual convolution over time only (kernel TEMPORAL_KERNEL x 1 x 1) on (N, C, F, H, W) of non-negative
    activations: ReLU(x + conv x), the conv initialised to 0 so the block starts as the identity (and, with no
    normalisation after it, learns from the first step)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, (TEMPORAL_KERNEL, 1), 1, (TEMPORAL_KERNEL // 2, 0))
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, f, h, w = x.shape
        y = self.conv(channels_last(x.reshape(n, c, f, h * w)))
        return F.relu(x + y.reshape(n, c, f, h, w))


#: The first conv's weight in ``conv_stack`` layouts (the fvd net's has 3 more input channels).
FIRST_CONV_WEIGHT = "body.0.weight"


def _time_derivative(x: torch.Tensor) -> torch.Tensor:
    """d/dt of (N, F, ...) frames: central differences inside, one-sided at the ends (zero for F = 1)."""
    if x.shape[1] < 2:
        return torch.zeros_like(x)
    pad = torch.cat([2 * x[:, :1] - x[:, 1:2], x, 2 * x[:, -1:] - x[:, -2:-1]], dim=1)
    return (pad[:, 2:] - pad[:, :-2]) / 2


class VideoNet(nn.Module):
    """The FVD network (I3D stand-in): a (2+1)D CNN, the frame net's 2D layers "inflated" with a residual
    temporal convolution after each (as I3D inflates Inception); its input is each frame and its time
    derivative (6 channels).

    ``body`` has the frame net's layout (so the frame net's trained weights initialise it, see
    ``inflate_from``); the temporal convolutions start as the identity. Features (``dim`` = 2 x
    widths[-1]): mean and max of the last activations over time and space. Heads (training only):
    FVD_HEADS. Not the discriminator's backbone.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.body = conv_stack(2 * 3, widths, VIDEO_STRIDES, "fvd.widths")
        self.temporal = nn.ModuleList(TemporalConv(w) for w in widths)
        self.dim = 2 * widths[-1]
        self.heads = nn.ModuleDict({k: nn.Linear(self.dim, n) for k, n in FVD_HEADS.items()})

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        n, f = videos.shape[:2]
        x = normalise(videos)
        h = torch.cat([x, _time_derivative(x)], dim=2).flatten(0, 1)  # (N F, 6, S, S)
        for k, temporal in enumerate(self.temporal):
            h = self.body[LAYER_MODULES * k:LAYER_MODULES * (k + 1)](channels_last(h))
            h = temporal(h.unflatten(0, (n, f)).transpose(1, 2))  # (N, C, F, S', S')
            h = h.transpose(1, 2).flatten(0, 1)
        return mean_max(h.unflatten(0, (n, f)), (1, 3, 4))

    def forward(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(videos)
        return {k: head(h) for k, head in self.heads.items()}

    def inflate_from(self, frame_state: dict[str, torch.Tensor]) -> None:
        """Copy a trained frame net's conv layers and its heads of the same name and size."""
        own = self.state_dict()
        body = {k: v for k, v in frame_state.items() if k.startswith("body.")}
        if set(body) != {k for k in own if k.startswith("body.")}:
            raise ValueError("fvd: the frame network's layers differ from the fvd network's (same widths needed)")
        for k, v in frame_state.items():
            if k == FIRST_CONV_WEIGHT and v.shape[1] == 3 and own[k].shape[0] == v.shape[0]:
                own[k] = torch.cat([v, torch.zeros_like(v)], dim=1)  # the time-derivative channels start unused
            elif k in own and own[k].shape == v.shape and (k.startswith("body.") or k.startswith("heads.")):
                own[k] = v.clone()
            elif k.startswith("body."):
                raise ValueError(f"fvd: frame network tensor {k} has shape {tuple(v.shape)}, "
                                 f"expected {tuple(own[k].shape)}")
        self.load_state_dict(own)
