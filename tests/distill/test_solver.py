import torch
from diffusers import DDPMScheduler

from mcm.distill.guidance import lcm_guidance
from mcm.distill.losses import consistency_distance
from mcm.distill.solver import DDIMSolver
from mcm.teachers.base import alphas_cumprod_from_betas


def test_skip_grid_is_19_to_999_step_20():
    solver = DDIMSolver(alphas_cumprod_from_betas(1000, 0.00085, 0.012, "scaled_linear"), 50)
    assert solver.timesteps[:3].tolist() == [19, 39, 59] and solver.timesteps[-1] == 999
    assert solver.previous_timestep(torch.tensor([19, 999])).tolist() == [0, 979]


def test_schedule_and_noising_match_diffusers():
    for schedule in ("linear", "scaled_linear"):
        ref = DDPMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule=schedule)
        ab = alphas_cumprod_from_betas(1000, 0.00085, 0.012, schedule)
        torch.testing.assert_close(ab, ref.alphas_cumprod, rtol=1e-5, atol=1e-7)
        solver = DDIMSolver(ab)
        x0, eps, t = torch.randn(2, 4, 3, 4, 4), torch.randn(2, 4, 3, 4, 4), torch.tensor([19, 999])
        torch.testing.assert_close(solver.add_noise(x0, eps, t), ref.add_noise(x0, eps, t), rtol=1e-5, atol=1e-5)


def test_ddim_step_with_exact_eps_recovers_the_trajectory():
    solver = DDIMSolver(alphas_cumprod_from_betas(1000, 0.00085, 0.012, "scaled_linear"))
    x0, eps = torch.randn(2, 4, 1, 2, 2), torch.randn(2, 4, 1, 2, 2)
    t = torch.tensor([499, 999])
    x_t = solver.add_noise(x0, eps, t)
    pred = solver.predicted_x0(x_t, eps, t)
    torch.testing.assert_close(pred, x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(solver.step(pred, eps, solver.previous_timestep(t)), solver.add_noise(x0, eps, t - 20), rtol=1e-4, atol=1e-4)


def test_lcm_guidance_form_per_sample():
    cond, uncond = torch.ones(2, 3, 1, 1, 1), torch.zeros(2, 3, 1, 1, 1)
    out = lcm_guidance(cond, uncond, torch.tensor([0.0, 7.0]))
    assert out[0].unique().item() == 1.0 and out[1].unique().item() == 8.0


def test_pseudo_huber_distances():
    a, b = torch.zeros(2, 4), torch.full((2, 4), 3.0)
    c = 0.001
    assert abs(consistency_distance("pseudo_huber", a, b, c).item() - ((9 + c**2) ** 0.5 - c)) < 1e-6
    expect = ((4 * 9 + c**2) ** 0.5 - c)
    assert abs(consistency_distance("pseudo_huber_norm", a, b, c).item() - expect) < 1e-5
    assert consistency_distance("l2", a, b, c).item() == 9.0
