"""The discriminator's side of training: D_psi, its own optimiser and penalty weight, its text condition.

* :class:`DiscriminatorText`: the CLIP text embedding c (N, text_embed_dim) of Eq. (4)-(5): the pooled output
  of the teacher's CLIP text encoder (``discriminator.text_encoder: teacher``) or of a transformers
  ``CLIPTextModelWithProjection`` from a local folder / hub id (the authors: open_clip ViT-g-14).
* :class:`DiscriminatorTraining`: the discriminator (heads trainable, DINOv2 frozen), AdamW at
  ``discriminator.lr`` (5e-5) prepared by accelerate (so it steps only at accumulation boundaries), the
  :class:`~mcm.discriminator.PenaltyWeight`, and their checkpoint state under distinct keys.
* :func:`all_reduce_gradients`: averages the gradients of modules that are not DDP-wrapped (the discriminator
  heads and the motion head) over ranks, once per optimiser step. The discriminator is not wrapped in DDP
  because the generator's loss goes through it under ``frozen`` (no gradient, no reducer hooks) and its own
  loss needs a double backward (gradient penalty), which DDP's reducer does not support.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

import torch
import torch.distributed as dist
from accelerate import Accelerator

from mcm.config.schema import AdversarialConfig
from mcm.discriminator.loss import PenaltyWeight
from mcm.discriminator.model import build_discriminator
from mcm.distill.adversarial import vae_frame_decoder
from mcm.teachers.base import Teacher

DISC_PREFIX = "discriminator."
TEXT_CACHE_SIZE = 4096


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


class DiscriminatorText:
    """Caption -> CLIP text embedding (D,) for the discriminator heads, cached (LRU)."""

    def __init__(self, cfg: AdversarialConfig, teacher: Teacher, device: torch.device):
        self.width, self.device = cfg.text_embed_dim, device
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        if self.width == 0:
            self.encoder = self.tokenizer = None
            return
        if cfg.text_encoder == "teacher":
            if teacher.text_encoder is None:
                raise ValueError(f"discriminator.text_encoder='teacher': teacher {teacher.name!r} has no text encoder")
            self.encoder, self.tokenizer, self.max_length = teacher.text_encoder, teacher.tokenizer, teacher.text_max_length
            self.output = 1  # pooler_output
        else:
            from transformers import CLIPTextModelWithProjection, CLIPTokenizer

            self.encoder = CLIPTextModelWithProjection.from_pretrained(cfg.text_encoder, use_safetensors=True)
            self.encoder.requires_grad_(False).eval().to(device)
            self.tokenizer = CLIPTokenizer.from_pretrained(cfg.text_encoder)
            self.max_length, self.output = self.tokenizer.model_max_length, 0  # text_embeds
        got = self._encode(["a"]).shape[-1]
        if got != self.width:
            raise ValueError(
                f"discriminator.text_embed_dim={self.width} but discriminator.text_encoder={cfg.text_encoder!r} "
                f"gives {got}-wide embeddings"
            )

    @torch.no_grad()
    def _encode(self, captions: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(captions, padding="max_length", max_length=self.max_length, truncation=True,
                                return_tensors="pt")
        return self.encoder(tokens.input_ids.to(self.encoder.device))[self.output].float()

    def __call__(self, captions: list[str]) -> Optional[torch.Tensor]:
        """(N, text_embed_dim) on the device, or None for unconditional heads."""
        if self.encoder is None:
            return None
        missing = [c for c in dict.fromkeys(captions) if c not in self._cache]
        if missing:
            for caption, emb in zip(missing, self._encode(missing)):
                self._cache[caption] = emb
                while len(self._cache) > TEXT_CACHE_SIZE:
                    self._cache.popitem(last=False)
        return torch.stack([self._cache[c] for c in captions]).to(self.device)


class DiscriminatorTraining:
    """D_psi with its optimiser, penalty weight, text condition and VAE frame decoder."""

    def __init__(self, cfg: AdversarialConfig, teacher: Teacher, accelerator: Accelerator):
        self.cfg = cfg
        self.disc = build_discriminator(cfg).to(accelerator.device)
        self.disc.train()
        self.params = self.disc.trainable_parameters()
        self.optimizer = accelerator.prepare(self.disc.make_optimizer())
        self.penalty_weight = PenaltyWeight.from_config(cfg)
        self.text = DiscriminatorText(cfg, teacher, accelerator.device)
        self.decode = vae_frame_decoder(teacher)

    # --- checkpoint state ------------------------------------------------------------------------------
    def weights(self) -> dict[str, torch.Tensor]:
        return {DISC_PREFIX + k: v for k, v in self.disc.trainable_state_dict().items()}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        state = {k[len(DISC_PREFIX):]: v for k, v in weights.items() if k.startswith(DISC_PREFIX)}
        if not state:
            raise ValueError("the checkpoint has no discriminator weights (was it written with discriminator.enabled=false?)")
        self.disc.load_trainable_state_dict(state)

    def optimizer_states(self) -> dict[str, Any]:
        return {"discriminator_optimizer": self.optimizer.optimizer.state_dict(),
                "penalty_weight": self.penalty_weight.state_dict()}

    def load_optimizer_states(self, states: dict[str, Any]) -> None:
        self.optimizer.optimizer.load_state_dict(states["discriminator_optimizer"])
        self.penalty_weight.load_state_dict(states["penalty_weight"])
