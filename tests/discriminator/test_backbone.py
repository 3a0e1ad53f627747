"""Frozen DINOv2 feature extraction: block indices, final norm, loading from a local folder."""

import pytest
import torch
from transformers import BertConfig, BertModel

from mcm.discriminator import DinoFeatureExtractor, DiscriminatorConfig, tiny_dinov2
from mcm.discriminator.config import TinyBackboneConfig


def test_features_are_normalised_patch_tokens_of_the_chosen_blocks():
    model = tiny_dinov2(TinyBackboneConfig(), image_size=32)
    ext = DinoFeatureExtractor(model, feature_blocks=(0, 2), apply_final_norm=True)
    pixels = torch.randn(3, 3, 32, 32)
    feats = ext(pixels)
    hidden = model(pixel_values=pixels, output_hidden_states=True).hidden_states
    assert len(hidden) == 5  # embeddings + 4 blocks
    for f, block in zip(feats, (0, 2)):
        assert f.shape == (3, 32, 64)  # (N, D, (32/4)^2 patches)
        torch.testing.assert_close(f, model.layernorm(hidden[block + 1])[:, 1:].transpose(1, 2))
    # the last block with the final norm is the model's own last_hidden_state
    last = DinoFeatureExtractor(model, feature_blocks=(3,))(pixels)[0]
    torch.testing.assert_close(last, model(pixel_values=pixels).last_hidden_state[:, 1:].transpose(1, 2))


def test_backbone_is_frozen_and_stays_in_eval_mode(make_config):
    ext = DinoFeatureExtractor.from_config(make_config())
    assert all(not p.requires_grad for p in ext.parameters())
    ext.train()
    assert not ext.model.training
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    ext(x)[0].sum().backward()  # gradients still reach the input
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_blocks_outside_the_backbone_are_rejected(make_config):
    with pytest.raises(ValueError, match="feature_blocks"):
        DinoFeatureExtractor.from_config(make_config(feature_blocks=(2, 5, 8, 11)))
    with pytest.raises(ValueError, match="image_size"):
        DinoFeatureExtractor.from_config(make_config(image_size=30))


def test_loads_a_local_transformers_folder(tmp_path):
    model = tiny_dinov2(TinyBackboneConfig(seed=3), image_size=32)
    model.save_pretrained(tmp_path / "dino")
    assert (tmp_path / "dino" / "model.safetensors").exists()
    cfg = DiscriminatorConfig(backbone=str(tmp_path / "dino"), feature_blocks=(1, 3), image_size=32)
    ext = DinoFeatureExtractor.from_config(cfg)
    ref = DinoFeatureExtractor(model, (1, 3))
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(ext(x), ref(x)):
        torch.testing.assert_close(a, b)


def test_rejects_a_non_dinov2_folder(tmp_path):
    BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                         vocab_size=10)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="bert"):
        DinoFeatureExtractor.from_config(DiscriminatorConfig(backbone=str(tmp_path / "bert"), image_size=28))
