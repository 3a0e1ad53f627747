"""The DINOv2 architecture fields of a random-initialised (or world-trained) backbone: ``TinyBackboneConfig``.

The discriminator builds a tiny random DINOv2 from it (``mcm.discriminator.backbone.tiny_dinov2``); the world's
backbone training extends it (``mcm.world.backbone_ssl.BackboneArchitecture``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mcm.config.base import StrictConfig


class TinyBackboneConfig(StrictConfig):
    """A random-initialised DINOv2 (transformers ``Dinov2Config``) for tests and CPU debugging."""

    hidden_size: int = Field(32, ge=1, description="Token width (ViT-S/14: 384).")
    num_hidden_layers: int = Field(4, ge=1, description="Transformer blocks (ViT-S/14: 12).")
    num_attention_heads: int = Field(2, ge=1, description="Attention heads (ViT-S/14: 6).")
    mlp_ratio: int = Field(2, ge=1, description="MLP width / token width (ViT-S/14: 4).")
    patch_size: int = Field(4, ge=1, description="Patch size in pixels (ViT-S/14: 14).")
    seed: int = Field(0, description="Seed of the random initialisation.")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> "TinyBackboneConfig":
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"tiny_backbone.num_attention_heads={self.num_attention_heads} must divide "
                f"tiny_backbone.hidden_size={self.hidden_size}"
            )
        return self
