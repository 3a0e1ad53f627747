import pytest
import torch

from mcm.config.load import load_config
from mcm.teachers.registry import load_teacher
from mcm.teachers.tiny import save_teacher_folder


@pytest.mark.parametrize("kind", ["tiny_modelscope", "tiny_animatediff"])
def test_tiny_teachers_shapes_and_seeded_rebuild(kind):
    cfg = load_config("tiny", [f"teacher.kind={kind}"])
    teacher = load_teacher(cfg.teacher)
    video = torch.rand(2, 4, 3, 16, 16) * 2 - 1
    latents = teacher.encode_video(video)
    assert latents.shape == (2, 4, 4, 8, 8)  # (B, C, F, h, w), VAE /2
    text = teacher.encode_text(["a red ball", "héllo wörld ✓"])
    assert text.shape == (2, 16, 16)
    eps = teacher.predict_noise(latents, torch.tensor([10, 900]), text)
    assert eps.shape == latents.shape and torch.isfinite(eps).all()
    assert teacher.decode_latents(latents).shape == (2, 4, 3, 16, 16)
    again = load_teacher(cfg.teacher)  # same config, same weights
    torch.testing.assert_close(again.predict_noise(latents, torch.tensor([10, 900]), text), eps)


@pytest.mark.parametrize("tiny_kind, real_kind", [("tiny_modelscope", "modelscope"), ("tiny_animatediff", "animatediff")])
def test_real_loaders_read_a_local_diffusers_folder(tmp_path, tiny_kind, real_kind):
    tiny = load_teacher(load_config("tiny", [f"teacher.kind={tiny_kind}"]).teacher)
    paths = save_teacher_folder(tiny, tmp_path / "teacher")
    sets = [f"teacher.kind={real_kind}"] + [f"teacher.{k}={v}" for k, v in paths.items()]
    if real_kind == "animatediff":
        sets.append("teacher.beta_schedule=scaled_linear")
    real = load_teacher(load_config("tiny", sets).teacher)
    assert real.schedule == tiny.schedule
    latents = torch.randn(1, 4, 3, 8, 8)
    text = tiny.encode_text(["a cat"])
    torch.testing.assert_close(real.encode_text(["a cat"]), text)
    t = torch.tensor([500])
    torch.testing.assert_close(real.predict_noise(latents, t, text), tiny.predict_noise(latents, t, text), rtol=1e-5, atol=1e-5)
    assert real.repeat_text_per_frame == (real_kind == "animatediff")


def test_gaussian_mixture_teacher_is_the_exact_denoiser():
    cfg = load_config("gmm")
    teacher = load_teacher(cfg.teacher)
    mixture = teacher.components["mixture"]
    # At small t the exact posterior mean of a noised sample is close to the sample itself.
    x0 = mixture.sample(256, torch.Generator().manual_seed(0)).reshape(256, 2, 1, 1, 1)
    ab = teacher.alphas_cumprod
    t = torch.full((256,), 20)
    noise = torch.randn_like(x0)
    x_t = ab[20].sqrt() * x0 + (1 - ab[20]).sqrt() * noise
    eps = teacher.predict_noise(x_t, t, None)
    x0_hat = (x_t - (1 - ab[20]).sqrt() * eps) / ab[20].sqrt()
    assert (x0_hat - x0).pow(2).mean() < 0.05 * (x0 - x0.mean(0)).pow(2).mean()
    # At t = T - 1 from pure noise it predicts the mixture mean (0).
    z = torch.randn(256, 2, 1, 1, 1)
    x0_top = (z - (1 - ab[999]).sqrt() * teacher.predict_noise(z, torch.full((256,), 999), None)) / ab[999].sqrt()
    assert x0_top.flatten(1).norm(dim=1).mean() < 0.25 * 2.0  # modes sit at radius 2
