"""Light trainable discriminator heads on DINOv2 tokens (Appendix C.1; StyleGAN-T [47], ADD [48]).

One head per feature block. A head sees tokens (N, D, L) as a 1-D signal over L patches:

    h   = block_1x1(x)                         SpectralConv1d(D -> Ch, k=1), LocalBatchNorm, LeakyReLU(0.2)
    h   = (block_k(h) + h) / sqrt(2)           residual block, SpectralConv1d(Ch -> Ch, k=9, circular)
    out = <cls(h), W_c c> / sqrt(cmap_dim)     projection on the text embedding c (N, text_dim); (N, L)

so each head gives one logit per patch. Without text conditioning (text_dim 0) ``cls`` maps Ch -> 1.
``LocalBatchNorm`` normalises over virtual batches of 8 samples (and all tokens) and keeps no running
statistics: the same computation in train and eval mode.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SPECTRAL_NORM_EPS = 1e-12
RESIDUAL_SCALE = 1.0 / math.sqrt(2.0)


def spectral_conv1d(in_channels: int, out_channels: int, kernel_size: int) -> nn.Module:
    """Conv1d over tokens with spectral normalisation (one power iteration per training forward)."""
    conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                     padding_mode="circular" if kernel_size > 1 else "zeros")
    return spectral_norm(conv, n_power_iterations=1, eps=SPECTRAL_NORM_EPS)


class LocalBatchNorm(nn.Module):
    """Batch norm over virtual batches: (N, C, L) normalised per channel within groups of ``virtual_batch``
    consecutive samples (statistics over the group's samples and tokens); the last group may be smaller.
    No running buffers; the same in train and eval mode."""

    def __init__(self, num_features: int, virtual_batch: int = 8, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        if virtual_batch < 1:
            raise ValueError(f"virtual_batch={virtual_batch} must be >= 1")
        self.virtual_batch, self.eps = virtual_batch, eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = []
        for g in torch.split(x, self.virtual_batch, dim=0):
            mean = g.mean(dim=(0, 2), keepdim=True)
            var = g.var(dim=(0, 2), keepdim=True, unbiased=False)
            groups.append((g - mean) * torch.rsqrt(var + self.eps))
        out = torch.cat(groups, dim=0)
        if self.weight is not None:
            out = out * self.weight.view(1, -1, 1) + self.bias.view(1, -1, 1)
        return out


def conv_block(in_channels: int, out_channels: int, kernel_size: int, virtual_batch: int,
               slope: float) -> nn.Sequential:
    """SpectralConv1d -> LocalBatchNorm -> LeakyReLU."""
    return nn.Sequential(
        spectral_conv1d(in_channels, out_channels, kernel_size),
        LocalBatchNorm(out_channels, virtual_batch),
        nn.LeakyReLU(slope),
    )


class ResidualBlock(nn.Module):
    """(fn(x) + x) / sqrt(2)."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.fn(x) + x) * RESIDUAL_SCALE


class DiscriminatorHead(nn.Module):
    """Per-block head: tokens (N, D, L) and text embedding (N, text_dim) -> patch logits (N, L).

    Args:
        in_channels: token width D of the backbone.
        channels: head width (``None`` = D).
        text_dim: CLIP text embedding width; 0 = unconditional.
        cmap_dim: projection width of the conditioning.
        kernel_size: kernel of the residual block's conv.
        virtual_batch: samples per local batch-norm group.
        slope: LeakyReLU slope.
    """

    def __init__(self, in_channels: int, channels: Optional[int] = None, text_dim: int = 0, cmap_dim: int = 64,
                 kernel_size: int = 9, virtual_batch: int = 8, slope: float = 0.2):
        super().__init__()
        channels = channels or in_channels
        self.text_dim, self.cmap_dim = text_dim, cmap_dim
        self.main = nn.Sequential(
            conv_block(in_channels, channels, 1, virtual_batch, slope),
            ResidualBlock(conv_block(channels, channels, kernel_size, virtual_batch, slope)),
        )
        if text_dim > 0:
            self.cmapper = nn.Linear(text_dim, cmap_dim)
            self.cls = spectral_conv1d(channels, cmap_dim, 1)
        else:
            self.cmapper = None
            self.cls = spectral_conv1d(channels, 1, 1)

    def forward(self, tokens: torch.Tensor, text_embed: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.cls(self.main(tokens))  # (N, cmap_dim or 1, L)
        if self.cmapper is None:
            return out[:, 0]
        if text_embed is None:
            raise ValueError("text_embed is required: the discriminator heads are text-conditioned (text_embed_dim > 0)")
        if text_embed.ndim != 2 or text_embed.shape != (tokens.shape[0], self.text_dim):
            raise ValueError(
                f"text_embed must be (N, {self.text_dim}) with N={tokens.shape[0]}; got {tuple(text_embed.shape)}"
            )
        cmap = self.cmapper(text_embed.to(out.dtype)).unsqueeze(-1)  # (N, cmap_dim, 1)
        return (out * cmap).sum(dim=1) / math.sqrt(self.cmap_dim)
