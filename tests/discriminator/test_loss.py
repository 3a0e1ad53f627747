"""Hinge and generator losses (Eq. 4-5) and the gradient penalty (authors' WGAN-GP form and R1)."""

import pytest
import torch

from mcm.discriminator import (
    PenaltyWeight,
    build_discriminator,
    discriminator_loss,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    r1_penalty,
    wgan_gp_penalty,
)
from mcm.discriminator.loss import wgan_gp_from_features

TEXT_DIM = 16


def test_hinge_and_generator_losses_known_values():
    real = torch.tensor([[2.0, 0.5]])
    fake = torch.tensor([[-2.0, 0.0]])
    loss, terms = hinge_discriminator_loss(real, fake)
    torch.testing.assert_close(terms["d_loss_real"], torch.tensor(0.25))  # relu(1-2)=0, relu(1-0.5)=0.5
    torch.testing.assert_close(terms["d_loss_fake"], torch.tensor(0.5))  # relu(1-2)=0, relu(1+0)=1
    torch.testing.assert_close(loss, torch.tensor(0.75))
    torch.testing.assert_close(generator_adversarial_loss(torch.tensor([1.0, 3.0])), torch.tensor(-2.0))


class _LinearHeads:
    """Stub D with logits = <w_k, f_k> per head: grad_f = w, so the penalty is (||w|| - 1)^2 per sample."""

    def __init__(self, ws):
        self.ws = ws

    def head_logits(self, feats, text):
        return [(f * w).sum(dim=(1, 2)).unsqueeze(1) for f, w in zip(feats, self.ws)]


def test_wgan_gp_from_features_known_answer():
    ws = [torch.full((3, 4), 0.5), torch.full((3, 2), 1.0)]  # ||w||^2 = 12 * 0.25 + 6 = 9 -> norm 3
    feats = [torch.randn(5, 3, 4), torch.randn(5, 3, 2)]
    gp = wgan_gp_from_features(_LinearHeads(ws), feats, None)
    torch.testing.assert_close(gp, torch.tensor(4.0))  # (3 - 1)^2


@pytest.mark.parametrize("penalty,interp", [("wgan_gp", "pixels"), ("wgan_gp", "features"), ("r1", "pixels")])
def test_penalty_is_finite_and_differentiable(make_config, penalty, interp):
    disc = build_discriminator(make_config(penalty=penalty, gp_interpolation=interp))
    real, fake = torch.rand(6, 3, 32, 32) * 2 - 1, torch.rand(6, 3, 32, 32) * 2 - 1
    text = torch.randn(6, TEXT_DIM)
    if penalty == "r1":
        value = r1_penalty(disc, real, text)
    else:
        value = wgan_gp_penalty(disc, disc.preprocess(real), disc.preprocess(fake), text)
    assert value.ndim == 0 and torch.isfinite(value) and value > 0
    params = disc.trainable_parameters()
    grads = torch.autograd.grad(value, params, allow_unused=True)  # the double backward
    used = [g for g in grads if g is not None]
    assert len(used) > 0 and all(torch.isfinite(g).all() for g in used)
    assert sum(g.abs().sum() for g in used) > 0


def test_penalty_weight_grows_by_5_at_most_every_500_steps():
    pw = PenaltyWeight(1e-5, growth=5.0, threshold=100.0, interval=500)
    assert not pw.update(150.0, step=100)  # too soon after step 0
    assert pw.update(150.0, step=500) and pw.weight == pytest.approx(5e-5)
    assert not pw.update(1e4, step=900)
    assert not pw.update(99.0, step=1200)  # below the threshold
    assert pw.update(torch.tensor(100.0), step=1000 + 500) and pw.weight == pytest.approx(2.5e-4)
    other = PenaltyWeight(1.0)
    other.load_state_dict(pw.state_dict())
    assert other.weight == pw.weight and other.last_growth_step == 1500


def test_discriminator_loss_adds_the_weighted_penalty(make_config):
    disc = build_discriminator(make_config(penalty_weight=0.1))
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    text = torch.randn(4, TEXT_DIM)
    pw = PenaltyWeight.from_config(disc.config)
    loss, terms = discriminator_loss(disc, real, text, fake, text, pw, step=0)
    expected = terms["d_loss_real"] + terms["d_loss_fake"] + 0.1 * terms["d_penalty"]
    torch.testing.assert_close(loss.detach(), expected)
    assert set(terms) >= {"d_loss_real", "d_loss_fake", "d_penalty", "d_penalty_weight", "d_real_score"}
    none_loss, none_terms = discriminator_loss(build_discriminator(make_config(penalty="none")), real, text,
                                               fake, text)
    assert "d_penalty" not in none_terms and torch.isfinite(none_loss)
