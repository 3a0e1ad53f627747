"""Known-answer tests of the motion representations M(.) (Eq. 6, Table 5)."""

import pytest
import torch
from pydantic import ValidationError

from mcm.motion import (
    MOTION_NAMES,
    MotionConfig,
    build_motion_representation,
    frequency_component,
    global_correlation,
    latent_difference,
    local_correlation,
)
from mcm.motion.representations import butterworth_lowpass


def _constant_video(value: float = 0.7) -> torch.Tensor:
    # each channel its own constant, same over (t, h, w)
    x = torch.full((2, 4, 5, 6, 7), value)
    return x * torch.arange(1, 5, dtype=torch.float32).view(1, 4, 1, 1, 1)


def test_every_name_builds_and_maps_a_video():
    x = torch.randn(2, 4, 3, 8, 8)
    shapes = {
        "raw": (2, 4, 3, 8, 8),
        "diff": (2, 4, 2, 8, 8),
        "corr": (2, 9, 2, 8, 8),
        "lowfreq": (2, 4, 3, 8, 8),
        "highfreq": (2, 4, 3, 8, 8),
        "learnable": (2, 4, 3, 8, 8),
    }
    assert set(shapes) == set(MOTION_NAMES)
    for name, shape in shapes.items():
        rep = build_motion_representation(MotionConfig(name=name, corr_radius=1), latent_channels=4)
        assert rep(x).shape == shape, name
        assert rep(x, target=True).shape == shape, name


def test_raw_is_identity_and_default_is_learnable():
    x = torch.randn(1, 4, 2, 3, 3)
    assert torch.equal(build_motion_representation(MotionConfig(name="raw"))(x), x)
    assert MotionConfig().name == "learnable"


def test_diff_of_constant_video_is_zero_and_of_ramp_is_step():
    assert latent_difference(_constant_video()).abs().max() == 0
    ramp = torch.arange(4, dtype=torch.float32).view(1, 1, 4, 1, 1).expand(1, 2, 4, 3, 3) * 0.5
    torch.testing.assert_close(latent_difference(ramp), torch.full((1, 2, 3, 3, 3), 0.5))


def test_highfreq_of_constant_video_is_zero_and_lowfreq_unchanged():
    x = _constant_video()
    torch.testing.assert_close(frequency_component(x, 0.25, 4, "high"), torch.zeros_like(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(frequency_component(x, 0.25, 4, "low"), x, atol=1e-5, rtol=1e-5)


def test_frequency_parts_sum_to_input_and_split_a_nyquist_pattern():
    x = torch.randn(2, 4, 4, 8, 8)
    low = frequency_component(x, 0.25, 4, "low")
    high = frequency_component(x, 0.25, 4, "high")
    torch.testing.assert_close(low + high, x, atol=1e-5, rtol=1e-5)
    # a checkerboard along w sits at the Nyquist frequency d=1: B = 1 / (1 + (1/0.25)^8) ~ 1.5e-5
    checker = (torch.arange(8) % 2 * 2 - 1).float().view(1, 1, 1, 1, 8).expand(1, 1, 4, 8, 8)
    assert frequency_component(checker, 0.25, 4, "low").abs().max() < 1e-4
    torch.testing.assert_close(frequency_component(checker, 0.25, 4, "high"), checker, atol=1e-4, rtol=0)


def test_butterworth_is_one_half_at_the_cutoff():
    # fftfreq(8)[2] = 0.25 cycles/sample -> normalised 0.5; cutoff 0.5 gives exactly 1/2 there
    mask = butterworth_lowpass((1, 1, 8), cutoff=0.5, order=4)
    assert mask[0, 0, 0] == 1.0
    torch.testing.assert_close(mask[0, 0, 2], torch.tensor(0.5))


@pytest.mark.parametrize("ky,kx", [(0, 3), (2, -1), (-3, -2)])
def test_local_correlation_peaks_at_the_shift(ky, kx):
    torch.manual_seed(0)
    radius = 4
    frame = torch.randn(1, 4, 1, 20, 20)
    moved = torch.roll(frame, shifts=(ky, kx), dims=(3, 4))  # moved(p) = frame(p - k)
    vol = local_correlation(torch.cat([frame, moved], dim=2), radius=radius, normalisation="cosine")  # (1, 81, 1, 20, 20)
    assert vol.shape == (1, (2 * radius + 1) ** 2, 1, 20, 20)
    inner = vol[0, :, 0, radius:-radius, radius:-radius]  # positions whose whole window is inside
    expected = (ky + radius) * (2 * radius + 1) + (kx + radius)
    assert torch.all(inner.argmax(dim=0) == expected)
    torch.testing.assert_close(inner[expected], torch.ones_like(inner[expected]))  # cosine 1
    assert inner.abs().max() <= 1 + 1e-5


def test_global_correlation_finds_the_matching_position():
    torch.manual_seed(1)
    frame = torch.randn(1, 4, 1, 5, 6)
    moved = torch.roll(frame, shifts=(1, 2), dims=(3, 4))
    vol = global_correlation(torch.cat([frame, moved], dim=2), normalisation="cosine")  # (1, 30, 1, 5, 6)
    assert vol.shape == (1, 30, 1, 5, 6)
    best = vol[0, :, 0].argmax(dim=0)  # (5, 6) index into frame f+1
    ys, xs = torch.meshgrid(torch.arange(5), torch.arange(6), indexing="ij")
    assert torch.equal(best, ((ys + 1) % 5) * 6 + (xs + 2) % 6)


@pytest.mark.parametrize("mode", ["local", "global"])
def test_corr_is_scaled_dot_products_and_sees_magnitude(mode):
    """Issue 8, defect 3: the paper's pairwise dot products, scaled by 1/sqrt(C) as the authors do; scaling one
    frame scales the volume (cosine similarity was blind to it)."""
    torch.manual_seed(2)
    c = 4
    x = torch.randn(1, c, 3, 5, 5)
    rep = build_motion_representation(MotionConfig(name="corr", corr_mode=mode, corr_radius=1))
    base = rep(x)
    scaled = x.clone()
    scaled[:, :, 1] *= 3.0
    out = rep(scaled)
    assert (out - base).abs().max() > 0.1, "scaling a frame must change the correlation volume"
    # pairs (0, 1) and (1, 2) both contain frame 1: their volumes scale by exactly 3
    torch.testing.assert_close(out, 3.0 * base)
    # the centre displacement (local) / the same position (global) equals <a, b> / sqrt(C)
    expected = (x[:, :, 0] * x[:, :, 1]).sum(dim=1) / c**0.5  # (1, 5, 5)
    if mode == "local":
        torch.testing.assert_close(base[:, 4, 0], expected)
    else:
        got = base[0, :, 0].reshape(25, 25).diagonal().reshape(1, 5, 5)
        torch.testing.assert_close(got, expected)


def test_bad_inputs_and_config_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 frames"):
        latent_difference(torch.randn(1, 4, 1, 3, 3))
    with pytest.raises(ValueError, match=r"\(B, C, F, H, W\)"):
        build_motion_representation(MotionConfig(name="corr"))(torch.randn(4, 3, 3))
    with pytest.raises(ValidationError, match="name"):
        MotionConfig(name="optical_flow")
    with pytest.raises(ValidationError, match="norm_groups"):
        MotionConfig(hidden_channels=64, norm_groups=24)
    with pytest.raises(ValidationError, match="extra"):
        MotionConfig(radius=3)


def test_handcrafted_representations_have_no_state():
    for name in ("raw", "diff", "corr", "lowfreq", "highfreq"):
        rep = build_motion_representation(MotionConfig(name=name))
        assert rep.trainable_modules() == {} and rep.trainable_parameters() == []
        assert rep.state_dict() == {}
        rep.ema_update()  # no-op
        assert rep.collapse_statistic(torch.randn(1, 4, 2, 3, 3)) is None


def test_gradients_flow_through_every_representation():
    for name in MOTION_NAMES:
        x = torch.randn(2, 4, 3, 6, 6, requires_grad=True)
        rep = build_motion_representation(MotionConfig(name=name, corr_radius=1))
        # learnable at init is the identity: gradient of sum is all ones
        rep(x).square().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, name
