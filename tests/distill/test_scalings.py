import pytest
import torch
from diffusers import LCMScheduler

from mcm.distill.scalings import boundary_scalings, consistency_output

T_VALUES = [0, 1, 19, 259, 499, 759, 999]


@pytest.mark.parametrize("s", [4.0, 10.0])
def test_boundary_scalings_equal_the_formula_at_several_t(s):
    sigma = 0.5
    t = torch.tensor(T_VALUES)
    c_skip, c_out = boundary_scalings(t, s, sigma)
    for i, tv in enumerate(T_VALUES):
        st = s * tv
        assert c_skip[i].item() == pytest.approx(sigma**2 / (st**2 + sigma**2), rel=1e-6)
        assert c_out[i].item() == pytest.approx(st / (st**2 + sigma**2) ** 0.5, rel=1e-6)
    assert c_skip[0] == 1.0 and c_out[0] == 0.0


@pytest.mark.parametrize("s", [4.0, 10.0])
def test_boundary_scalings_match_diffusers_lcm_scheduler(s):
    sched = LCMScheduler(timestep_scaling=s)
    for tv in T_VALUES:
        ref_skip, ref_out = sched.get_scalings_for_boundary_condition_discrete(torch.tensor(tv))
        c_skip, c_out = boundary_scalings(torch.tensor([tv]), s, 0.5)
        assert c_skip.item() == pytest.approx(float(ref_skip), rel=1e-6)
        assert c_out.item() == pytest.approx(float(ref_out), rel=1e-6)


def test_consistency_output_broadcasts_per_sample_over_video_latents():
    x_t, x0 = torch.randn(3, 4, 2, 5, 5), torch.randn(3, 4, 2, 5, 5)
    t = torch.tensor([0, 500, 999])
    out = consistency_output(x_t, x0, t, 4.0, 0.5)
    assert torch.equal(out[0], x_t[0])  # the boundary condition f(x_0, 0) = x_0
    c_skip, c_out = boundary_scalings(t, 4.0, 0.5)
    torch.testing.assert_close(out[2], c_skip[2] * x_t[2] + c_out[2] * x0[2])
