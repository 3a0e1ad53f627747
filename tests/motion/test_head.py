"""The learnable motion head of Fig. 4: identity at init, per-frame, EMA target, collapse statistic."""

import torch

from mcm.motion import EMAMotionHead, MotionConfig, MotionHead, build_motion_representation, collapse_statistic


def test_head_is_identity_at_initialisation():
    torch.manual_seed(0)
    head = MotionHead(4, hidden_channels=64, norm_groups=32)
    x = torch.randn(2, 4, 3, 5, 5)
    assert torch.equal(head(x), x)
    rep = build_motion_representation(MotionConfig(), latent_channels=4)
    assert torch.equal(rep(x), x) and torch.equal(rep(x, target=True), x)


def _perturb(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g))


def test_head_has_no_temporal_mixing():
    head = MotionHead(4, hidden_channels=8, norm_groups=4)
    _perturb(head, 1)
    x = torch.randn(1, 4, 4, 6, 6)
    y = head(x)
    x2 = x.clone()
    x2[:, :, 2] = torch.randn(1, 4, 6, 6)  # change frame 2 only
    y2 = head(x2)
    changed = (y2 - y).abs().flatten(3).amax(dim=(0, 1, 3))
    assert changed[2] > 0 and torch.all(changed[[0, 1, 3]] == 0)


def test_ema_moves_toward_online_at_the_configured_rate():
    decay = 0.95
    ema = EMAMotionHead(4, hidden_channels=64, norm_groups=32, ema_decay=decay)
    before = {k: v.clone() for k, v in ema.target.state_dict().items()}
    _perturb(ema.online, 2)
    online = {k: v.clone() for k, v in ema.online.state_dict().items()}
    ema.ema_update()
    for k, v in ema.target.state_dict().items():
        torch.testing.assert_close(v, decay * before[k] + (1 - decay) * online[k], rtol=0, atol=1e-6)
    # the zero-initialised conv_out moved to exactly 5% of the online weight
    torch.testing.assert_close(ema.target.conv_out.weight, 0.05 * ema.online.conv_out.weight, rtol=1e-6, atol=0)
    # after n updates toward a fixed online head the gap shrinks as decay^n
    gap0 = (ema.online.conv_out.weight - ema.target.conv_out.weight).abs().sum()
    for _ in range(10):
        ema.ema_update()
    gap10 = (ema.online.conv_out.weight - ema.target.conv_out.weight).abs().sum()
    torch.testing.assert_close(gap10, gap0 * decay**10, rtol=1e-4, atol=0)


def test_target_branch_uses_ema_copy_without_gradients():
    rep = build_motion_representation(MotionConfig(ema_decay=0.5), latent_channels=4)
    _perturb(rep.trainable_modules()["motion_head"], 3)
    x = torch.randn(2, 4, 2, 4, 4, requires_grad=True)
    online, target = rep(x), rep(x, target=True)
    assert online.requires_grad and not target.requires_grad
    assert not torch.allclose(online, target)
    assert all(not p.requires_grad for p in rep.head.target.parameters())
    # only the online head is trained
    ids = {id(p) for p in rep.trainable_parameters()}
    assert ids == {id(p) for p in rep.head.online.parameters()}
    keys = rep.state_dict().keys()
    assert any(k.startswith("head.online.") for k in keys) and any(k.startswith("head.target.") for k in keys)


def test_state_dict_round_trip_restores_both_heads():
    a = build_motion_representation(MotionConfig(), latent_channels=4)
    _perturb(a, 4)
    b = build_motion_representation(MotionConfig(), latent_channels=4)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 4, 2, 3, 3)
    assert torch.equal(a(x), b(x)) and torch.equal(a(x, target=True), b(x, target=True))


def test_collapse_statistic_is_one_for_identity_and_zero_for_constant_map():
    x = torch.randn(3, 4, 2, 5, 5)
    rep = build_motion_representation(MotionConfig(), latent_channels=4)
    torch.testing.assert_close(rep.collapse_statistic(x), torch.tensor(1.0))
    constant = torch.full_like(x, 0.3) + 0 * x
    assert collapse_statistic(x, constant) < 1e-6
    torch.testing.assert_close(collapse_statistic(x, 0.5 * x), torch.tensor(0.25))
    # a head whose residual cancels its input (-x + c) collapses: drive it there and watch the statistic fall
    head = rep.trainable_modules()["motion_head"]
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    start = rep.collapse_statistic(x)
    for _ in range(60):
        opt.zero_grad()
        rep(x).square().mean().backward()  # a loss minimised by a constant (zero) map
        opt.step()
    assert rep.collapse_statistic(x) < 0.5 * start
