"""Teacher baselines (issue 8): trailing timesteps for DDIM and DPM-Solver++, DDIM steps to the next timestep of
the schedule and, after the last one, to the clean end (abar = 1: the predicted x0)."""

import pytest
import torch

from mcm.config.load import load_config
from mcm.sampler.baselines import build_teacher_scheduler, sample_teacher_latents
from mcm.teachers.registry import load_teacher

# round(T - k T / n) - 1, k = 0..n-1, for T = 1000 ('trailing' spacing). 3 and 6 do not divide T.
TRAILING = {
    1: [999],
    2: [999, 499],
    3: [999, 666, 332],
    4: [999, 749, 499, 249],
    6: [999, 832, 666, 499, 332, 166],
    8: [999, 874, 749, 624, 499, 374, 249, 124],
}


@pytest.fixture(scope="module")
def teacher():
    return load_teacher(load_config("tiny").teacher)


def noised(teacher, x0, eps, t):
    """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, with abar_{-1} = 1 (the clean end)."""
    abar = 1.0 if t < 0 else teacher.alphas_cumprod[t].double().item()
    return abar**0.5 * x0 + (1 - abar) ** 0.5 * eps


@pytest.mark.parametrize("n", sorted(TRAILING))
def test_ddim_steps_along_the_trailing_schedule_to_the_clean_end(teacher, n):
    sched = build_teacher_scheduler(teacher, "ddim")
    sched.set_timesteps(n)
    assert sched.timesteps.tolist() == TRAILING[n], f"DDIM {n} steps: timesteps {sched.timesteps.tolist()}"
    # With the eps that produced x_t, a DDIM step is exact: it must land on x at the next timestep of the
    # schedule, and the last step on x0 itself.
    g = torch.Generator().manual_seed(n)
    x0, eps = torch.randn(2, 4, 3, 5, 5, generator=g), torch.randn(2, 4, 3, 5, 5, generator=g)
    targets = TRAILING[n][1:] + [-1]
    for t, t_prev in zip(TRAILING[n], targets):
        out = sched.step(eps, torch.tensor(t), noised(teacher, x0, eps, t), return_dict=False)[0]
        err = (out - noised(teacher, x0, eps, t_prev)).abs().max().item()
        assert err < 1e-4, f"DDIM {n} steps: the step from t={t} does not land on t={t_prev} (max error {err:.3g})"


@pytest.mark.parametrize("n", sorted(TRAILING))
def test_dpm_solver_starts_at_999_on_the_trailing_schedule(teacher, n):
    sched = build_teacher_scheduler(teacher, "dpm++")
    sched.set_timesteps(n)
    assert sched.timesteps.tolist() == TRAILING[n], f"DPM++ {n} steps: timesteps {sched.timesteps.tolist()}"


def test_one_ddim_step_equals_the_closed_form_update(teacher):
    """x_{t'} = sqrt(abar_t') (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) + sqrt(1 - abar_t') eps, t=666 -> t'=332."""
    sched = build_teacher_scheduler(teacher, "ddim")
    sched.set_timesteps(3)
    g = torch.Generator().manual_seed(0)
    x_t, eps = torch.randn(1, 4, 2, 3, 3, generator=g), torch.randn(1, 4, 2, 3, 3, generator=g)
    a_t, a_prev = teacher.alphas_cumprod[666].item(), teacher.alphas_cumprod[332].item()
    expected = a_prev**0.5 * (x_t - (1 - a_t) ** 0.5 * eps) / a_t**0.5 + (1 - a_prev) ** 0.5 * eps
    out = sched.step(eps, torch.tensor(666), x_t, return_dict=False)[0]
    err = (out - expected).abs().max().item()
    assert err < 1e-5, f"DDIM step 666 -> 332 differs from the closed form by {err:.3g}"


def test_one_step_ddim_baseline_returns_the_guided_x0_prediction_at_999(teacher):
    text, uncond = teacher.encode_text(["a"]), teacher.encode_text([""])
    z = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    g = 7.5
    out = sample_teacher_latents(teacher, "ddim", text, uncond, z.shape[1:], 1, g, torch.Generator(), z)
    with torch.no_grad():
        eps_c, eps_u = teacher.guided_noise(z, torch.tensor([999]), text, uncond)
    eps = eps_u + g * (eps_c - eps_u)
    abar = teacher.alphas_cumprod[999].item()
    x0 = (z - (1 - abar) ** 0.5 * eps) / abar**0.5
    err = (out - x0).abs().max().item()
    assert err < 1e-3 * x0.abs().max().item(), f"1-step DDIM is not the guided x0 at t=999 (max error {err:.3g})"
