"""The discriminator's text condition (Eq. 4-5): the teacher's pooled CLIP embedding, or a CLIP model from a
folder; cached on the CPU in a byte-bounded LRU."""

import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from mcm.config.load import load_config
from mcm.discriminator.text import TEXT_CACHE_MAX_BYTES, DiscriminatorText
from mcm.teachers.registry import load_teacher
from mcm.teachers.tiny import byte_level_tokenizer

PROJECTION = 12


@pytest.fixture(scope="module")
def tiny():
    cfg = load_config("mcm_tiny")
    return cfg, load_teacher(cfg.teacher)


def test_teacher_pooled_embedding_is_cached_and_width_checked(tiny):
    cfg, teacher = tiny
    text = DiscriminatorText(cfg.discriminator, teacher, torch.device("cpu"))
    assert text.max_bytes == TEXT_CACHE_MAX_BYTES
    a = text(["a red ball", "a blue ball", "a red ball"])
    assert a.shape == (3, cfg.discriminator.text_embed_dim)
    torch.testing.assert_close(a[0], a[2])
    assert (a[0] - a[1]).abs().max() > 0
    assert len(text) == 2
    bad = cfg.discriminator.model_copy(update={"text_embed_dim": 7})
    with pytest.raises(ValueError, match="text_embed_dim=7"):
        DiscriminatorText(bad, teacher, torch.device("cpu"))
    with pytest.raises(ValueError, match="max_bytes=-1"):
        DiscriminatorText(cfg.discriminator, teacher, torch.device("cpu"), max_bytes=-1)


def test_unconditional_heads_get_no_text(tiny):
    cfg, teacher = tiny
    text = DiscriminatorText(cfg.discriminator.model_copy(update={"text_embed_dim": 0}), teacher, "cpu")
    assert text(["a red ball"]) is None


def test_cache_stays_under_its_byte_bound_and_matches_uncached_encoding(tiny):
    cfg, teacher = tiny
    width = cfg.discriminator.text_embed_dim
    row = width * torch.finfo(torch.float32).bits // 8
    text = DiscriminatorText(cfg.discriminator, teacher, torch.device("cpu"), max_bytes=3 * row)
    captions = [f"caption {i}" for i in range(7)]
    uncached = text.encode(captions)
    for i in range(len(captions)):  # batches of 2 and 3 captions, repeats included
        batch = [captions[i], captions[(i + 3) % 7], captions[i]]
        torch.testing.assert_close(text(batch), uncached[[i, (i + 3) % 7, i]])
        assert text.cache_bytes <= 3 * row and len(text) <= 3
        assert all(e.device.type == "cpu" for e in text._cache.values())
    assert text.cache_bytes == 3 * row
    # least recently used goes first: touch "caption 0" then add a new caption; "caption 0" stays
    text(["caption 0"])
    kept = set(text._cache.keys())
    text(["a new caption"])
    assert "caption 0" in text and "a new caption" in text and len(set(text._cache.keys()) - kept) == 1
    # a request larger than the whole cache is still answered in full and in order
    whole = text(captions)
    torch.testing.assert_close(whole, uncached)
    assert text.cache_bytes <= 3 * row
    off = DiscriminatorText(cfg.discriminator, teacher, torch.device("cpu"), max_bytes=0)
    torch.testing.assert_close(off(captions[:2]), uncached[:2])
    assert len(off) == 0 and off.cache_bytes == 0


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
    out = text(["a red ball", "waves"])
    assert out.shape == (2, PROJECTION)
    torch.testing.assert_close(out, text.encode(["a red ball", "waves"]))
