"""Frozen DINOv2 feature extractor of the image discriminator (Appendix C.1).

The discriminator reads patch tokens of a frozen DINOv2 ViT-S/14 [43] after blocks 2, 5, 8 and 11
(0-based; transformers' ``hidden_states[k]`` is the output of block ``k - 1``, so indices 3, 6, 9, 12), each
passed through the model's final LayerNorm as the authors' ``get_intermediate_layers(norm=True)`` does.
The CLS token (and register tokens of the with-registers variant) are dropped.

The backbone is frozen (``requires_grad=False``, always in eval mode) but *not* run under ``no_grad``
unless the caller asks: the generator's adversarial gradient must flow through it to the decoded frames.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, Dinov2Config, Dinov2Model

from mcm.backbone.config import TinyBackboneConfig
from mcm.discriminator.config import DiscriminatorConfig
from mcm.utils.weights import weights_from

SUPPORTED_MODEL_TYPES = ("dinov2", "dinov2_with_registers")


def tiny_dinov2(cfg: TinyBackboneConfig, image_size: int, attn_implementation: str = "eager") -> Dinov2Model:
    """A random-initialised DINOv2 for tests (no download); deterministic in ``cfg.seed``."""
    config = Dinov2Config(
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        mlp_ratio=cfg.mlp_ratio,
        patch_size=cfg.patch_size,
        image_size=image_size,
    )
    config._attn_implementation = attn_implementation
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return Dinov2Model(config)


def load_dinov2(path_or_id: str, attn_implementation: str = "sdpa") -> nn.Module:
    """Load DINOv2 weights from a local transformers folder or a hub id (safetensors)."""
    with weights_from("discriminator.backbone", path_or_id):
        config = AutoConfig.from_pretrained(path_or_id)
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"discriminator.backbone={path_or_id!r} is a {config.model_type!r} model; expected one of "
            f"{SUPPORTED_MODEL_TYPES}"
        )
    with weights_from("discriminator.backbone", path_or_id):
        return AutoModel.from_pretrained(path_or_id, attn_implementation=attn_implementation, use_safetensors=True)


class DinoFeatureExtractor(nn.Module):
    """Frozen DINOv2 returning normalised patch tokens of chosen blocks.

    ``forward(pixels)`` takes ImageNet-normalised images (N, 3, S, S), S a multiple of the patch size, and
    returns one tensor (N, D, L) per block in ``feature_blocks`` (channels first, for 1-D convs), with
    D the token width and L = (S / patch)^2 patch tokens.
    """

    def __init__(self, model: nn.Module, feature_blocks: Sequence[int], apply_final_norm: bool = True):
        super().__init__()
        config = model.config
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise ValueError(f"backbone model_type={config.model_type!r} is not one of {SUPPORTED_MODEL_TYPES}")
        n_layers = config.num_hidden_layers
        bad = [b for b in feature_blocks if not 0 <= b < n_layers]
        if bad:
            raise ValueError(
                f"discriminator.feature_blocks={tuple(feature_blocks)} has blocks {bad} outside the backbone's "
                f"{n_layers} blocks (0..{n_layers - 1})"
            )
        self.model = model
        self.feature_blocks = tuple(feature_blocks)
        self.apply_final_norm = apply_final_norm
        self.hidden_size = int(config.hidden_size)
        self.patch_size = int(config.patch_size)
        self.num_prefix_tokens = 1 + int(getattr(config, "num_register_tokens", 0) or 0)
        self.model.requires_grad_(False)
        self.model.eval()

    @classmethod
    def from_config(cls, cfg: DiscriminatorConfig) -> "DinoFeatureExtractor":
        """Tiny random backbone if ``cfg.tiny_backbone`` is set, else ``load_dinov2(cfg.backbone)``."""
        attn = cfg.resolved_attn_implementation()
        if cfg.tiny_backbone is not None:
            model = tiny_dinov2(cfg.tiny_backbone, cfg.image_size, attn)
        else:
            model = load_dinov2(cfg.backbone, attn)
        if cfg.image_size % int(model.config.patch_size) != 0:
            raise ValueError(
                f"discriminator.image_size={cfg.image_size} is not a multiple of the backbone patch size "
                f"{model.config.patch_size}"
            )
        return cls(model, cfg.feature_blocks, cfg.apply_final_norm)

    def train(self, mode: bool = True) -> "DinoFeatureExtractor":
        """The backbone stays in eval mode (frozen); ``train()`` is accepted and ignored."""
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, pixels: torch.Tensor) -> list[torch.Tensor]:
        if pixels.ndim != 4 or pixels.shape[1] != 3:
            raise ValueError(f"backbone expects pixels (N, 3, S, S); got shape {tuple(pixels.shape)}")
        out = self.model(pixel_values=pixels, output_hidden_states=True)
        hidden = out.hidden_states  # (embeddings, block 0, ..., block n-1), each (N, prefix + L, D)
        feats = []
        for block in self.feature_blocks:
            tokens = hidden[block + 1]
            if self.apply_final_norm:
                tokens = self.model.layernorm(tokens)
            feats.append(tokens[:, self.num_prefix_tokens:].transpose(1, 2))  # (N, D, L)
        return feats

    @property
    def dtype(self) -> Optional[torch.dtype]:
        return next(self.model.parameters()).dtype
