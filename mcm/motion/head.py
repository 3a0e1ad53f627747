"""The learnable motion representation of Section 3.2 and Fig. 4: a per-frame head with an EMA target.

Layout (notes, "The parts that make it MCM"): per frame, no temporal layers,

    head(x) = conv_out(SiLU(GroupNorm(conv_in(SiLU(x)))))      conv_in: 1x1, C -> 64
                                                                conv_out: 1x1, 64 -> C, zero-initialised
    M(x)    = x + head(x)

so M is the identity at initialisation. The head is applied to the student prediction with gradients;
its EMA copy (decay 0.95, like the projection heads of BYOL [17]) is applied to the target. Both are
training state (save them with every checkpoint) and are dropped at inference.

Collapse: nothing in Eq. (6) stops the head from mapping every input to one constant, which makes the MCD
loss trivially zero. :func:`collapse_statistic` measures that (ratio of output to input variance); log it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

COLLAPSE_EPS = 1e-12


class MotionHead(nn.Module):
    """Per-frame residual head of Fig. 4: (B, C, F, H, W) -> (B, C, F, H, W).

    Frames are folded into the batch, so GroupNorm statistics are per frame and nothing mixes time.

    Args:
        channels: latent channels C (4 for SD/ModelScope VAEs).
        hidden_channels: hidden width (64).
        norm_groups: GroupNorm groups (32); must divide ``hidden_channels``.
        norm_eps: GroupNorm epsilon.
    """

    def __init__(self, channels: int, hidden_channels: int = 64, norm_groups: int = 32, norm_eps: float = 1e-5):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels={channels} must be >= 1")
        if hidden_channels % norm_groups != 0:
            raise ValueError(f"norm_groups={norm_groups} must divide hidden_channels={hidden_channels}")
        self.channels = channels
        self.act_in = nn.SiLU()
        self.conv_in = nn.Conv2d(channels, hidden_channels, kernel_size=1)
        self.norm = nn.GroupNorm(norm_groups, hidden_channels, eps=norm_eps)
        self.act_mid = nn.SiLU()
        self.conv_out = nn.Conv2d(hidden_channels, channels, kernel_size=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def residual(self, frames: torch.Tensor) -> torch.Tensor:
        """head(x) on frames (N, C, H, W)."""
        h = self.conv_in(self.act_in(frames))
        h = self.act_mid(self.norm(h))
        return self.conv_out(h)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """x + head(x) for latents (B, C, F, H, W)."""
        if latents.ndim != 5 or latents.shape[1] != self.channels:
            raise ValueError(
                f"latents must be (B, {self.channels}, F, H, W); got shape {tuple(latents.shape)}"
            )
        b, c, f, h, w = latents.shape
        frames = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        out = frames + self.residual(frames)
        return out.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


class EMAMotionHead(nn.Module):
    """An online :class:`MotionHead` and its EMA target copy.

    ``online`` is trained with the student (same optimiser, Section 4 / notes); ``target`` has
    ``requires_grad=False`` and moves only through :meth:`ema_update`:
    ``target <- decay * target + (1 - decay) * online`` (parameters and buffers alike).
    """

    def __init__(self, channels: int, hidden_channels: int = 64, norm_groups: int = 32,
                 norm_eps: float = 1e-5, ema_decay: float = 0.95):
        super().__init__()
        if not 0.0 <= ema_decay <= 1.0:
            raise ValueError(f"ema_decay={ema_decay} must lie in [0, 1]")
        self.ema_decay = ema_decay
        self.online = MotionHead(channels, hidden_channels, norm_groups, norm_eps)
        self.target = copy.deepcopy(self.online)
        self.target.requires_grad_(False)

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:
        """M(latents) through the online head (with gradients) or, if ``target``, the EMA head (no grad)."""
        if target:
            with torch.no_grad():
                return self.target(latents)
        return self.online(latents)

    @torch.no_grad()
    def ema_update(self, decay: float | None = None) -> None:
        """One EMA step of the target toward the online head (call after each optimiser step)."""
        d = self.ema_decay if decay is None else decay
        for p_t, p_o in zip(self.target.parameters(), self.online.parameters()):
            p_t.lerp_(p_o.detach().to(p_t.dtype), 1.0 - d)
        for b_t, b_o in zip(self.target.buffers(), self.online.buffers()):
            b_t.copy_(b_o)


def collapse_statistic(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Ratio of the outputs' variance to the inputs' (scalar, detached), a collapse alarm for M(.).

    Each position's channel vector (over batch, frames, height, width) is one sample; the variance over
    those samples is averaged over channels, for ``outputs`` and for ``inputs`` (both (B, C, F, H, W)).
    The identity head gives 1; a head that maps everything to a constant gives 0. Log it every step.
    """
    if inputs.shape[1] != outputs.shape[1]:
        raise ValueError(f"inputs {tuple(inputs.shape)} and outputs {tuple(outputs.shape)} differ in channels")
    with torch.no_grad():
        def _var(x: torch.Tensor) -> torch.Tensor:
            flat = x.detach().float().transpose(0, 1).reshape(x.shape[1], -1)
            return flat.var(dim=1, unbiased=False).mean()

        return _var(outputs) / (_var(inputs) + COLLAPSE_EPS)
