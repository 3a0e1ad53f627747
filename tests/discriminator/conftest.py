"""Tiny discriminator configs (random DINOv2, 32x32 inputs) shared by the discriminator tests."""

import pytest
import torch

from mcm.discriminator import DiscriminatorConfig, TinyBackboneConfig

TEXT_DIM = 16


def tiny_config(**overrides) -> DiscriminatorConfig:
    base = dict(
        tiny_backbone=TinyBackboneConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, patch_size=4),
        feature_blocks=(1, 3),
        image_size=32,
        text_embed_dim=TEXT_DIM,
        cmap_dim=16,
    )
    base.update(overrides)
    return DiscriminatorConfig(**base)


@pytest.fixture
def make_config():
    """Factory of tiny configs: ``make_config(penalty="r1")``."""
    return tiny_config


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
