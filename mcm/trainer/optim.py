"""Optimiser and LR schedule: AdamW (weight decay 0, not torch's 0.01) and cosine with linear warm-up."""

from __future__ import annotations

import torch
from diffusers.optimization import get_scheduler

from mcm.config.training import OptimConfig


def build_optimizer(params: list[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    if not params:
        raise ValueError("no trainable parameters: check student.target_modules")
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay
    )


def build_lr_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig):
    name = "cosine" if cfg.lr_scheduler == "cosine" else "constant_with_warmup"
    return get_scheduler(name, optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.max_steps)


class ScaledOptimizer:
    """One optimiser with its own loss scaler (fp16) and its own gradient clipping.

    Why not accelerate's prepared optimisers: accelerate gives every prepared optimiser one shared GradScaler.
    With two (student, discriminator) under fp16, ``clip_grad_norm_`` unscales both, the first ``step()`` calls
    ``scaler.update()`` (which resets the per-optimiser "unscaled" record), and the second optimiser's gradients
    are unscaled a second time (divided by the scale twice) while the scale is updated twice per step
    (issue 8, defect 1). Here each optimiser owns a scaler and the order is explicit, once per update:
    unscale -> clip -> step (skipped by the scaler on inf/nan) -> update -> zero_grad. bf16 and fp32 use a
    disabled scaler (every call is then a pass-through).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], fp16: bool,
                 device: torch.device, grad_clip: float | None = None, name: str = "optimizer"):
        self.optimizer, self.params, self.grad_clip, self.name = optimizer, params, grad_clip, name
        self.scaler = torch.amp.GradScaler(device.type, enabled=fp16)

    def backward(self, loss: torch.Tensor, accumulation_steps: int = 1) -> None:
        """Backward of ``loss / accumulation_steps``, scaled for fp16."""
        self.scaler.scale(loss / accumulation_steps).backward()

    def step(self) -> torch.Tensor | None:
        """One update from the accumulated gradients; returns the (unscaled) gradient norm when clipping."""
        self.scaler.unscale_(self.optimizer)
        norm = None
        if self.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
