"""The discriminator's side of training: its optimiser with its own loss scaler, the penalty weight's growth,
and its checkpoint state (the losses themselves are in ``mcm.distill.mcm_step`` and ``mcm.discriminator.loss``).

* :class:`DiscriminatorTraining`: the :class:`~mcm.distill.mcm_step.Adversary` the step reads (D_psi with
  frozen DINOv2 and trainable heads seeded from ``train.seed``, the VAE frame decoder, the CLIP text condition,
  the :class:`~mcm.discriminator.PenaltyWeight`), AdamW at ``discriminator.lr`` (5e-5) in a
  :class:`~mcm.trainer.optim.ScaledOptimizer` (its own GradScaler under fp16), its lr schedule (by default the
  student's warm-up and cosine, ``discriminator.lr_schedule``: the authors build both schedulers with the same
  arguments), and their checkpoint state.
* :func:`all_reduce_gradients`: averages the gradients of modules that are not DDP-wrapped (the discriminator
  heads and the motion head) over ranks, once per optimiser step. The discriminator is not wrapped in DDP
  because the generator's loss goes through it under ``frozen`` (no gradient, no reducer hooks) and its own
  loss needs a double backward (gradient penalty), which DDP's reducer does not support.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from mcm.config.schema import AdversarialConfig
from mcm.config.training import OptimConfig
from mcm.discriminator.loss import PenaltyWeight
from mcm.discriminator.model import build_discriminator
from mcm.discriminator.text import DiscriminatorText
from mcm.distill.adversarial import vae_frame_decoder
from mcm.distill.mcm_step import Adversary
from mcm.runs.folder import DISCRIMINATOR_PREFIX, strip_prefix, with_prefix
from mcm.teachers.base import Teacher
from mcm.trainer.optim import ScaledOptimizer, build_lr_scheduler

# The heads' init seed is derived from train.seed, apart from the LoRA's and the motion head's.
HEAD_SEED_OFFSET = 2


def all_reduce_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over ranks (missing grads count as zeros); no-op in one process."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


class DiscriminatorTraining:
    """D_psi with its optimiser (own scaler), penalty weight, text condition and VAE frame decoder."""

    def __init__(self, cfg: AdversarialConfig, teacher: Teacher, device: torch.device, seed: int, fp16: bool,
                 optim: OptimConfig | None = None):
        self.cfg = cfg
        self.disc = build_discriminator(cfg, seed=seed + HEAD_SEED_OFFSET).to(device)
        self.disc.train()
        self.params = self.disc.trainable_parameters()
        optimizer = self.disc.make_optimizer()
        self.optimizer = ScaledOptimizer(optimizer, self.params, fp16, device, name="discriminator")
        # Stepped once per update with the student's (trainer.train); None: a constant lr.
        self.lr_scheduler = (build_lr_scheduler(optimizer, optim)
                             if optim is not None and cfg.lr_schedule == "student" else None)
        self.penalty_weight = PenaltyWeight.from_config(cfg)
        self.adversary = Adversary(self.disc, vae_frame_decoder(teacher), DiscriminatorText(cfg, teacher, device),
                                   self.penalty_weight, cfg.sparse_frames)

    def grow_penalty_weight(self, mean_penalty: float, step: int) -> bool:
        """The authors' growth rule, from the penalty already averaged over ranks and micro-batches (no sync)."""
        return self.penalty_weight.update(mean_penalty, step, reduce=False)

    # --- checkpoint state ------------------------------------------------------------------------------
    def weights(self) -> dict[str, torch.Tensor]:
        return with_prefix(DISCRIMINATOR_PREFIX, self.disc.trainable_state_dict())

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        state = strip_prefix(DISCRIMINATOR_PREFIX, weights)
        if not state:
            raise ValueError("the checkpoint has no discriminator weights (was it written with discriminator.enabled=false?)")
        self.disc.load_trainable_state_dict(state)

    def step_lr(self) -> None:
        """Advance D's lr schedule by one update (a no-op for a constant lr)."""
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()

    def optimizer_states(self) -> dict[str, Any]:
        states = {"discriminator_optimizer": self.optimizer.state_dict(),
                  "penalty_weight": self.penalty_weight.state_dict()}
        if self.lr_scheduler is not None:
            states["discriminator_lr_scheduler"] = self.lr_scheduler.state_dict()
        return states

    def load_optimizer_states(self, states: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(states["discriminator_optimizer"])
        self.penalty_weight.load_state_dict(states["penalty_weight"])
        if self.lr_scheduler is not None:
            if "discriminator_lr_scheduler" not in states:
                raise ValueError("the checkpoint has no discriminator lr schedule (written before "
                                 "discriminator.lr_schedule existed): resume with discriminator.lr_schedule=constant")
            self.lr_scheduler.load_state_dict(states["discriminator_lr_scheduler"])
