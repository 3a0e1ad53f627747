"""The adversarial terms with per-sample seeded randomness (mcm.distill.adversarial.generator_loss and
mcm.discriminator.loss.discriminator_loss): splitting a batch over ranks changes nothing, every penalty form is
finite and differentiable, the fakes never carry the discriminator's gradient back."""

import pytest
import torch

from mcm.discriminator import DiscriminatorConfig, TinyBackboneConfig, build_discriminator, discriminator_loss
from mcm.distill.adversarial import generator_loss

TEXT = 8
L = 2


def make_disc(**overrides):
    cfg = DiscriminatorConfig(
        tiny_backbone=TinyBackboneConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, patch_size=4),
        feature_blocks=(0, 1), image_size=16, text_embed_dim=TEXT, cmap_dim=8, virtual_batch_size=L, **overrides,
    )
    return build_discriminator(cfg, seed=0).train()


def batch(n_videos: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(n_videos * L, 3, 16, 16, generator=g) * 2 - 1
    fake = torch.rand(n_videos * L, 3, 16, 16, generator=g) * 2 - 1
    text = torch.randn(n_videos * L, TEXT, generator=g)
    seeds = torch.randint(0, 2**62, (n_videos,), generator=g)
    return real, fake, text, seeds


@pytest.mark.parametrize("penalty, interp", [("wgan_gp", "pixels"), ("wgan_gp", "features"), ("r1", "pixels")])
def test_two_halves_give_the_whole_batch_loss_and_gradient(penalty, interp):
    """What two ranks with 2 videos each compute, averaged, equals one process with 4 videos."""
    disc = make_disc(penalty=penalty, gp_interpolation=interp, penalty_weight=0.1)
    real, fake, text, seeds = batch(4)
    state = {k: v.clone() for k, v in disc.state_dict().items()}

    def run(sl_frames, sl_videos):
        disc.load_state_dict(state)  # the same spectral-norm vectors on every "rank"
        disc.zero_grad(set_to_none=True)
        loss, terms = discriminator_loss(disc, real[sl_frames], text[sl_frames], fake[sl_frames], text[sl_frames],
                                         seeds[sl_videos], 0.1)
        loss.backward()
        assert torch.isfinite(terms["d_penalty"]) and terms["d_penalty"] > 0
        return loss.detach(), [p.grad.clone() for p in disc.trainable_parameters()]

    whole, g_whole = run(slice(0, 8), slice(0, 4))
    a, g_a = run(slice(0, 4), slice(0, 2))
    b, g_b = run(slice(4, 8), slice(2, 4))
    torch.testing.assert_close((a + b) / 2, whole, rtol=1e-5, atol=1e-6)
    for gw, ga, gb in zip(g_whole, g_a, g_b):
        torch.testing.assert_close((ga + gb) / 2, gw, rtol=1e-4, atol=1e-6)


def test_generator_loss_reaches_the_latents_only_through_l_decoded_frames():
    disc = make_disc()
    latents = torch.randn(2, 3, 5, 16, 16, requires_grad=True)  # "latents" = pixels, identity decoder
    frames = torch.tensor([[0, 3], [1, 4]])
    _, _, text, seeds = batch(2)
    loss, fake = generator_loss(disc, lambda z: z, latents, frames, text, seeds)
    loss.backward()
    touched = latents.grad.abs().sum(dim=(1, 3, 4)) > 0  # (B, F)
    assert touched.tolist() == [[True, False, False, True, False], [False, True, False, False, True]]
    assert fake.shape == (4, 3, 16, 16)
    assert all(p.grad is None for p in disc.parameters())


def test_the_fakes_gradient_stops_at_the_discriminator_loss():
    disc = make_disc()
    real, fake, text, seeds = batch(2)
    fake = fake.clone().requires_grad_(True)
    loss, _ = discriminator_loss(disc, real, text, fake, text, seeds, 0.1)
    loss.backward()
    assert fake.grad is None
    assert all(p.grad is not None for p in disc.trainable_parameters())
