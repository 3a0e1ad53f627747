"""The discriminator's text condition: the teacher's pooled CLIP embedding, or a CLIP model from a folder."""

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from mcm.config import load_config
from mcm.teachers.registry import load_teacher
from mcm.teachers.tiny import byte_level_tokenizer
from mcm.trainer.adversarial import DiscriminatorText

PROJECTION = 12


def test_teacher_pooled_embedding_is_cached_and_width_checked():
    cfg = load_config("mcm_tiny")
    teacher = load_teacher(cfg.teacher)
    text = DiscriminatorText(cfg.discriminator, teacher, torch.device("cpu"))
    a = text(["a red ball", "a blue ball", "a red ball"])
    assert a.shape == (3, cfg.discriminator.text_embed_dim)
    torch.testing.assert_close(a[0], a[2])
    assert (a[0] - a[1]).abs().max() > 0
    bad = cfg.discriminator.model_copy(update={"text_embed_dim": 7})
    with pytest.raises(ValueError, match="text_embed_dim=7"):
        DiscriminatorText(bad, teacher, torch.device("cpu"))


def test_clip_text_model_from_a_local_folder(tmp_path):
    tok = byte_level_tokenizer()
    config = CLIPTextConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                            num_attention_heads=2, max_position_embeddings=tok.model_max_length,
                            projection_dim=PROJECTION, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    torch.manual_seed(0)
    CLIPTextModelWithProjection(config).save_pretrained(tmp_path / "clip")
    tok.save_pretrained(tmp_path / "clip")
    cfg = load_config("mcm_tiny", [f"discriminator.text_encoder={tmp_path / 'clip'}",
                                   f"discriminator.text_embed_dim={PROJECTION}"])
    text = DiscriminatorText(cfg.discriminator, load_teacher(cfg.teacher), torch.device("cpu"))
    assert text(["a red ball", "waves"]).shape == (2, PROJECTION)
