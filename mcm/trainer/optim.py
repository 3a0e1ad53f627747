"""Optimiser and LR schedule: AdamW (weight decay 0, not torch's 0.01) and cosine with linear warm-up."""

from __future__ import annotations

import torch
from diffusers.optimization import get_scheduler

from mcm.config.schema import OptimConfig


def build_optimizer(params: list[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    if not params:
        raise ValueError("no trainable parameters: check student.target_modules")
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay
    )


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig):
    name = "cosine" if cfg.lr_scheduler == "cosine" else "constant_with_warmup"
    return get_scheduler(name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps)
