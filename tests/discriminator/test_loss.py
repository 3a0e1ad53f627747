"""Hinge and generator losses (Eq. 4-5), the gradient penalty (authors' WGAN-GP form and R1, Appendix C.1) and
its weight, all through the one per-sample-seeded implementation of ``mcm.discriminator.loss``."""

import pytest
import torch
import torch.distributed as dist

from mcm.discriminator import (
    PenaltyWeight,
    build_discriminator,
    discriminator_loss,
    frame_seeds,
    generator_adversarial_loss,
    hinge_discriminator_loss,
    preprocess_per_sample,
    r1_penalty,
    wgan_gp_penalty,
)
from mcm.discriminator.loss import SEED_FAKE_D, SEED_FAKE_G, SEED_GP, SEED_REAL, view_purpose, wgan_gp_from_features

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


def test_frame_seeds_are_video_major_distinct_per_purpose_and_checked():
    seeds = torch.tensor([10, 20])
    real = frame_seeds(seeds, 2, SEED_REAL)
    assert len(real) == 4 and len(set(real)) == 4
    assert frame_seeds(seeds[1:], 2, SEED_REAL) == real[2:]  # a video's seeds do not depend on its neighbours
    for purpose in (SEED_FAKE_D, SEED_GP):
        assert set(real).isdisjoint(frame_seeds(seeds, 2, purpose))
    with pytest.raises(ValueError, match="video_seeds"):
        frame_seeds(seeds.view(1, 2), 2, SEED_REAL)
    with pytest.raises(ValueError, match="l=0"):
        frame_seeds(seeds, 0, SEED_REAL)


def test_preprocess_per_sample_depends_only_on_each_images_seed(make_config):
    disc = build_discriminator(make_config())
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    whole = preprocess_per_sample(disc, images, [7, 8, 9])
    torch.testing.assert_close(preprocess_per_sample(disc, images[1:], [8, 9]), whole[1:])
    assert not torch.equal(preprocess_per_sample(disc, images, [1, 8, 9])[0], whole[0])
    with pytest.raises(ValueError, match="2 seeds for 3 images"):
        preprocess_per_sample(disc, images, [1, 2])


@pytest.mark.parametrize("penalty,interp", [("wgan_gp", "pixels"), ("wgan_gp", "features"), ("r1", "pixels")])
def test_penalty_is_finite_and_differentiable(make_config, penalty, interp):
    disc = build_discriminator(make_config(penalty=penalty, gp_interpolation=interp))
    real, fake = torch.rand(6, 3, 32, 32) * 2 - 1, torch.rand(6, 3, 32, 32) * 2 - 1
    text = torch.randn(6, TEXT_DIM)
    seeds = list(range(6))
    if penalty == "r1":
        value = r1_penalty(disc, real, text, seeds)
    else:
        value = wgan_gp_penalty(disc, preprocess_per_sample(disc, real, seeds),
                                preprocess_per_sample(disc, fake, seeds), text, seeds)
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
    assert pw.update(torch.tensor(100.0), step=1000 + 500, reduce=False) and pw.weight == pytest.approx(2.5e-4)
    other = PenaltyWeight(1.0)
    other.load_state_dict(pw.state_dict())
    assert other.weight == pw.weight and other.last_growth_step == 1500
    with pytest.raises(ValueError, match="weight=-1"):
        PenaltyWeight(-1.0)


def _fake_process_group(monkeypatch, calls: list, allow_all_reduce: bool) -> None:
    """Pretend to run under a 2-rank gloo group: all_reduce either sums a second rank's 300 or raises."""

    def all_reduce(t, op=None):
        calls.append(float(t))
        if not allow_all_reduce:
            raise AssertionError("torch.distributed.all_reduce was called")
        t += 300.0

    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "gloo")
    monkeypatch.setattr(dist, "all_reduce", all_reduce)


def test_penalty_weight_update_reduces_over_ranks_unless_told_the_value_is_averaged(monkeypatch):
    calls = []
    _fake_process_group(monkeypatch, calls, allow_all_reduce=True)
    pw = PenaltyWeight(1.0, threshold=100.0, interval=500)
    assert not pw.update(150.0, step=100) and calls == []  # not due: no collective at all
    assert pw.update(50.0, step=500) and calls == [50.0]  # mean over ranks (50 + 300) / 2 = 175 >= 100
    _fake_process_group(monkeypatch, calls, allow_all_reduce=False)
    assert not pw.update(50.0, step=1000, reduce=False)  # the given mean, 50, is below the threshold
    assert pw.update(torch.tensor(150.0), step=1000, reduce=False) and pw.weight == 25.0
    assert calls == [50.0]


def test_discriminator_loss_adds_the_weighted_penalty(make_config):
    disc = build_discriminator(make_config(penalty_weight=0.1))
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    text = torch.randn(4, TEXT_DIM)
    seeds = torch.tensor([3, 5])  # 2 videos x l = 2 frames
    loss, terms = discriminator_loss(disc, real, text, fake, text, seeds, 0.1)
    expected = terms["d_loss_real"] + terms["d_loss_fake"] + 0.1 * terms["d_penalty"]
    torch.testing.assert_close(loss.detach(), expected)
    assert set(terms) == {"d_loss_real", "d_loss_fake", "d_real_score", "d_fake_score", "d_penalty",
                          "d_penalty_weight", "d_loss"}
    assert all(not t.requires_grad for t in terms.values()) and terms["d_penalty_weight"].item() == pytest.approx(0.1)
    none_loss, none_terms = discriminator_loss(build_discriminator(make_config(penalty="none")), real, text,
                                               fake, text, seeds, 0.1)
    assert "d_penalty" not in none_terms and torch.isfinite(none_loss)


def test_discriminator_loss_checks_its_arguments(make_config):
    disc = build_discriminator(make_config())
    x, text = torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, TEXT_DIM)
    with pytest.raises(ValueError, match="must pair up"):
        discriminator_loss(disc, x[:2], text[:2], x, text, torch.tensor([1, 2]), 0.1)
    with pytest.raises(ValueError, match="video_seeds"):
        discriminator_loss(disc, x, text, x, text, torch.tensor([1, 2, 3]), 0.1)
    with pytest.raises(ValueError, match="penalty_weight=-0.1"):
        discriminator_loss(disc, x, text, x, text, torch.tensor([1, 2]), -0.1)
    with pytest.raises(TypeError, match="PenaltyWeight.weight"):
        discriminator_loss(disc, x, text, x, text, torch.tensor([1, 2]), PenaltyWeight(0.1))


@pytest.mark.parametrize("penalty", ["wgan_gp", "r1"])
def test_discriminator_loss_leaves_the_penalty_weight_and_torch_distributed_alone(make_config, monkeypatch, penalty):
    """Defect 9: no growth, no host read of the penalty, no all-reduce per micro-batch (the trainer grows the
    weight at its logging interval from the rank-averaged d_penalty)."""
    calls = []
    _fake_process_group(monkeypatch, calls, allow_all_reduce=False)
    disc = build_discriminator(make_config(penalty=penalty, penalty_weight=1.0))
    pw = PenaltyWeight(1.0, threshold=0.0, interval=0)  # would grow on any read of any penalty
    before = pw.state_dict()
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    text = torch.randn(4, TEXT_DIM)
    loss, terms = discriminator_loss(disc, real, text, fake, text, torch.tensor([1, 2]), pw.weight)
    loss.backward()
    assert pw.state_dict() == before and calls == []
    assert terms["d_penalty_weight"].item() == 1.0


def test_augment_views_average_the_hinge_over_views_and_keep_view_zero_and_the_penalty(make_config):
    """k views: the hinge is the mean of k one-view hinges, view v augmented from the seeds of
    view_purpose(purpose, v); view 0's and the penalty are exactly the one-view step's."""
    real, fake = torch.rand(4, 3, 32, 32) * 2 - 1, torch.rand(4, 3, 32, 32) * 2 - 1
    text, seeds = torch.randn(4, TEXT_DIM), torch.tensor([3, 5])  # 2 videos x l = 2 frames
    one = build_discriminator(make_config(virtual_batch_size=4), seed=0).eval()  # eval: no power iteration
    three = build_discriminator(make_config(virtual_batch_size=4, augment_views=3), seed=0).eval()
    _, t1 = discriminator_loss(one, real, text, fake, text, seeds, 0.1)
    _, t3 = discriminator_loss(three, real, text, fake, text, seeds, 0.1)

    def view_logits(images, purpose, v):
        pixels = preprocess_per_sample(one, images, frame_seeds(seeds, 2, view_purpose(purpose, v)))
        return torch.cat(one.head_logits(one.features(pixels), text), dim=1)

    real_hinge = [torch.relu(1 - view_logits(real, SEED_REAL, v)).mean() for v in range(3)]
    fake_hinge = [torch.relu(1 + view_logits(fake, SEED_FAKE_D, v)).mean() for v in range(3)]
    torch.testing.assert_close(real_hinge[0], t1["d_loss_real"])
    torch.testing.assert_close(torch.stack(real_hinge).mean(), t3["d_loss_real"])
    torch.testing.assert_close(torch.stack(fake_hinge).mean(), t3["d_loss_fake"])
    torch.testing.assert_close(t3["d_penalty"], t1["d_penalty"])
    assert len({round(h.item(), 6) for h in real_hinge}) == 3  # three different augmentations
    assert len({view_purpose(p, v) for p in (SEED_FAKE_G, SEED_FAKE_D, SEED_REAL, SEED_GP) for v in range(4)}) == 16
