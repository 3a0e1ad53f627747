"""The discriminator trained alone separates real and fake; generator and discriminator steps stay apart; its heads
are initialised from an explicit seed."""

import pytest
import torch
from pydantic import ValidationError

from mcm.discriminator import (
    DiscriminatorConfig,
    build_discriminator,
    discriminator_loss,
    frozen,
    generator_adversarial_loss,
)
from mcm.discriminator.loss import SEED_MODULUS

TEXT_DIM = 16


def _real(n: int, g: torch.Generator) -> torch.Tensor:
    """Smooth colour ramps: the 'high-quality' images."""
    ramp = torch.linspace(-0.8, 0.8, 32).view(1, 1, 1, 32)
    tint = torch.rand(n, 3, 1, 1, generator=g) * 0.4
    return (ramp + tint).expand(n, 3, 32, 32).contiguous()


def _fake(n: int, g: torch.Generator) -> torch.Tensor:
    """Pixel noise: the 'low-quality' generated frames."""
    return (torch.rand(n, 3, 32, 32, generator=g) * 2 - 1)


def test_trained_alone_the_loss_falls_and_scores_separate(make_config):
    disc = build_discriminator(make_config(lr=1e-2, penalty="wgan_gp"))
    opt = disc.make_optimizer()
    g = torch.Generator().manual_seed(0)
    # caption embeddings share a large common part, as CLIP text embeddings do
    text = torch.randn(1, TEXT_DIM, generator=g) + 0.1 * torch.randn(16, TEXT_DIM, generator=g)
    real_eval, fake_eval = _real(16, g), _fake(16, g)
    before = (disc.score(real_eval, text) - disc.score(fake_eval, text)).mean().item()
    losses = []
    for step in range(40):
        seeds = torch.randint(0, SEED_MODULUS, (16,), generator=g)  # 16 one-frame "videos"
        loss, _ = discriminator_loss(disc, _real(16, g), text, _fake(16, g), text, seeds, disc.config.penalty_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    real_s, fake_s = disc.score(real_eval, text), disc.score(fake_eval, text)
    assert real_s.min() > fake_s.max()  # every real above every fake
    assert (real_s.mean() - fake_s.mean()).item() > 0.5 + before


def _generator() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh())


@pytest.mark.parametrize("how", ["context", "toggle"])
def test_generator_step_leaves_discriminator_untouched(make_config, how):
    disc = build_discriminator(make_config())
    gen = _generator()
    state = {k: v.clone() for k, v in disc.state_dict().items()}
    fake = gen(torch.randn(4, 3, 32, 32))
    text = torch.randn(4, TEXT_DIM)
    if how == "context":
        with frozen(disc):
            loss = generator_adversarial_loss(disc(fake, text))
    else:
        disc.requires_grad_(False)
        loss = generator_adversarial_loss(disc(fake, text))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.parameters())
    assert all(p.grad is None for p in disc.parameters())
    if how == "context":  # eval mode inside: no spectral-norm power iteration either
        assert all(torch.equal(v, state[k]) for k, v in disc.state_dict().items())
        assert disc.training and all(p.requires_grad for p in disc.trainable_parameters())
        assert not any(p.requires_grad for p in disc.backbone.parameters())


def test_discriminator_step_leaves_generator_untouched(make_config):
    disc = build_discriminator(make_config())
    opt = disc.make_optimizer()
    gen = _generator()
    gen_state = {k: v.clone() for k, v in gen.state_dict().items()}
    heads_state = {k: v.clone() for k, v in disc.trainable_state_dict().items()}
    text = torch.randn(4, TEXT_DIM)
    fake = gen(torch.randn(4, 3, 32, 32))  # still attached to the generator's graph
    loss, _ = discriminator_loss(disc, torch.rand(4, 3, 32, 32) * 2 - 1, text, fake, text, torch.tensor([1, 2]),
                                 disc.config.penalty_weight)
    loss.backward()
    opt.step()
    assert all(p.grad is None for p in gen.parameters())
    assert all(torch.equal(v, gen_state[k]) for k, v in gen.state_dict().items())
    changed = [k for k, v in disc.trainable_state_dict().items() if not torch.equal(v, heads_state[k])]
    assert changed  # the heads did train
    assert all(p.grad is None for p in disc.backbone.parameters())


def test_trainable_state_round_trip_and_optimizer_defaults(make_config):
    a, b = build_discriminator(make_config()), build_discriminator(make_config())
    a(torch.rand(8, 3, 32, 32) * 2 - 1, torch.randn(8, TEXT_DIM))  # moves spectral-norm vectors
    b.load_trainable_state_dict(a.trainable_state_dict())
    x, t = torch.rand(3, 3, 32, 32) * 2 - 1, torch.randn(3, TEXT_DIM)
    a.eval(), b.eval()
    torch.testing.assert_close(a.score(x, t), b.score(x, t))
    assert not any(k.startswith("backbone") for k in a.trainable_state_dict())
    group = a.make_optimizer().param_groups[0]
    assert group["lr"] == 5e-5 and group["weight_decay"] == 0.0


def test_conditioning_is_required_and_shapes_are_checked(make_config):
    disc = build_discriminator(make_config())
    with pytest.raises(ValueError, match="text_embed"):
        disc(torch.rand(2, 3, 32, 32), None)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        disc(torch.rand(2, 4, 32, 32), torch.randn(2, TEXT_DIM))
    assert disc(torch.rand(2, 3, 48, 48), torch.randn(2, TEXT_DIM)).shape == (2, 2 * 64)


def test_config_defaults_follow_the_paper_and_reject_bad_values():
    cfg = DiscriminatorConfig()
    assert cfg.feature_blocks == (2, 5, 8, 11) and cfg.image_size == 224 and cfg.virtual_batch_size == 8
    assert cfg.lr == 5e-5 and cfg.penalty == "wgan_gp" and cfg.penalty_weight == 1e-5
    assert cfg.penalty_growth == 5.0 and cfg.penalty_growth_threshold == 100.0 and cfg.penalty_growth_interval == 500
    assert cfg.sparse_frames == 2 and cfg.leaky_relu_slope == 0.2
    with pytest.raises(ValidationError, match="augment_policy"):
        DiscriminatorConfig(augment_policy=("color", "rotate"))
    with pytest.raises(ValidationError, match="attn_implementation"):
        DiscriminatorConfig(penalty="r1", attn_implementation="sdpa")
    with pytest.raises(ValidationError, match="feature_blocks"):
        DiscriminatorConfig(feature_blocks=(2, 2))
    assert DiscriminatorConfig(penalty="r1").resolved_attn_implementation() == "eager"


def test_paper_default_config_on_a_random_vit_s14():
    """Default config (blocks 2, 5, 8, 11; 224 px; 1024-d text) on a random ViT-S/14-shaped DINOv2."""
    from transformers import Dinov2Config, Dinov2Model

    from mcm.discriminator import DinoFeatureExtractor, ImageDiscriminator

    cfg = DiscriminatorConfig()
    vit_s = Dinov2Model(Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, patch_size=14,
                                     image_size=224))
    disc = ImageDiscriminator(cfg, backbone=DinoFeatureExtractor(vit_s, cfg.feature_blocks))
    assert list(disc.heads) == ["block2", "block5", "block8", "block11"]
    frames = torch.rand(2, 3, 256, 256) * 2 - 1  # ModelScope frames, resized to 224 -> 16 x 16 patches
    assert disc(frames, torch.randn(2, 1024)).shape == (2, 4 * 256)


def _heads(disc) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in disc.trainable_state_dict().items()}


def test_seeded_heads_ignore_and_keep_the_global_rng(make_config):
    """Defect 7: the heads (weights and spectral-norm vectors) come from ``seed`` alone, so ranks agree
    whatever each drew from the global RNG before, and building does not advance that RNG."""
    cfg = make_config()
    a = build_discriminator(cfg, seed=123)
    torch.randn(1000)  # a rank that consumed the global RNG differently
    state = torch.get_rng_state()
    b = build_discriminator(cfg, seed=123)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is as before the build
    ha, hb = _heads(a), _heads(b)
    assert ha.keys() == hb.keys() and all(torch.equal(ha[k], hb[k]) for k in ha)
    c = build_discriminator(cfg, seed=124)
    assert any(not torch.equal(ha[k], v) for k, v in _heads(c).items())
    # the tiny random backbone is deterministic in tiny_backbone.seed, also whatever the global RNG did
    assert all(torch.equal(v, b.backbone.state_dict()[k]) for k, v in a.backbone.state_dict().items())
    assert not torch.equal(
        build_discriminator(make_config(tiny_backbone=cfg.tiny_backbone.model_copy(update={"seed": 1})))
        .backbone.model.embeddings.patch_embeddings.projection.weight,
        a.backbone.model.embeddings.patch_embeddings.projection.weight,
    )


def test_build_discriminator_accepts_a_backbone_and_checks_the_seed(make_config):
    cfg = make_config()
    base = build_discriminator(cfg, seed=0)
    shared = build_discriminator(cfg, backbone=base.backbone, seed=0)
    assert shared.backbone is base.backbone
    assert all(torch.equal(v, _heads(shared)[k]) for k, v in _heads(base).items())
    with pytest.raises(ValueError, match="seed=-1"):
        build_discriminator(cfg, seed=-1)
    unseeded = build_discriminator(cfg)  # legacy: heads from the global RNG, which advances
    assert unseeded.heads.keys() == base.heads.keys()
