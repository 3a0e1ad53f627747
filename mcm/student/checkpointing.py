"""Gradient checkpointing for any teacher network.

diffusers' ``enable_gradient_checkpointing`` is used where the class supports it (UNetMotionModel).
``UNet3DConditionModel`` (ModelScope) does not (diffusers 0.42 raises ValueError), so for it the UNet's
down, mid and up blocks are wrapped: in training with gradients on, each block's forward runs under
non-reentrant ``torch.utils.checkpoint`` (activations recomputed in backward); otherwise it runs as is, so the
no-grad teacher and target passes pay nothing.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

BLOCK_LISTS = ("down_blocks", "up_blocks")
SINGLE_BLOCKS = ("mid_block",)


def _checkpointed(block: nn.Module) -> None:
    if getattr(block, "_mcm_checkpointed", False):
        return
    original = block.forward

    @functools.wraps(original)
    def forward(*args, **kwargs):
        if block.training and torch.is_grad_enabled():
            return checkpoint(original, *args, use_reentrant=False, **kwargs)
        return original(*args, **kwargs)

    block.forward = forward
    block._mcm_checkpointed = True


def enable_gradient_checkpointing(network: nn.Module) -> str:
    """Turn on activation recomputation; returns which mechanism ('diffusers' or 'blocks')."""
    if getattr(network, "_supports_gradient_checkpointing", False):
        network.enable_gradient_checkpointing()
        return "diffusers"
    blocks = [b for name in BLOCK_LISTS for b in getattr(network, name, [])]
    blocks += [getattr(network, name) for name in SINGLE_BLOCKS if getattr(network, name, None) is not None]
    if not blocks:
        raise ValueError(
            f"train.gradient_checkpointing: {type(network).__name__} has neither diffusers' support nor "
            "down/mid/up blocks to wrap"
        )
    for block in blocks:
        _checkpointed(block)
    return "blocks"
