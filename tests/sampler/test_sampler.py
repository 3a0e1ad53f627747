import pytest
import torch

from mcm.config.load import load_config
from mcm.distill.step import ConsistencyDistillation
from mcm.sampler.api import VideoGenerator
from mcm.sampler.baselines import sample_teacher_latents
from mcm.sampler.lcm import sample_student_latents
from mcm.sampler.video_io import read_mp4, write_video
from mcm.student.lora import add_lora
from mcm.teachers.registry import load_teacher


def tiny_student(overrides=()):
    cfg = load_config("tiny", list(overrides))
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets)
    with torch.no_grad():
        for name, p in teacher.network.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(3))
    return teacher, cfg


# sigma_data != 0.5 (issue 8); a tiny timestep scaling moves the boundary region (s t ~ sigma_data) up to
# t = 999, where one-step sampling evaluates the scalings: there sigma_data changes the output visibly.
SIGMA_DATA_CASES = [(), ("distill.sigma_data=0.3",), ("distill.sigma_data=0.3", "distill.timestep_scaling=0.001")]


@pytest.mark.parametrize("overrides", SIGMA_DATA_CASES)
def test_one_step_lcm_sampling_equals_the_trained_consistency_function(overrides):
    teacher, cfg = tiny_student(overrides)
    text = teacher.encode_text(["a red ball moving left"])
    z = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    sampled = sample_student_latents(teacher, cfg.distill, text, z.shape[1:], 1, torch.Generator(), z)
    trained = ConsistencyDistillation(teacher, cfg.distill).consistency_fn(z, torch.tensor([999]), text)
    torch.testing.assert_close(sampled, trained, rtol=1e-4, atol=1e-4)


def test_sampler_uses_the_training_timestep_scaling_and_grid():
    from mcm.distill.scalings import boundary_scalings
    from mcm.sampler.lcm import build_lcm_scheduler

    teacher, cfg = tiny_student()
    for s in (4.0, 10.0):
        for sigma_data in (0.5, 0.3):
            distill = cfg.distill.model_copy(update={"timestep_scaling": s, "sigma_data": sigma_data})
            sched = build_lcm_scheduler(teacher, distill)
            sched.set_timesteps(4)
            assert sched.timesteps.tolist() == [999, 759, 499, 259]
            for t in (1, 2, 19, 999):  # the scalings only differ near t = 0
                ref = sched.get_scalings_for_boundary_condition_discrete(torch.tensor(t))
                ours = boundary_scalings(torch.tensor([t]), s, distill.sigma_data)
                assert abs(float(ref[0]) - ours[0].item()) < 1e-7 and abs(float(ref[1]) - ours[1].item()) < 1e-7, (
                    f"s={s} sigma_data={sigma_data} t={t}: sampler (c_skip, c_out) = ({float(ref[0]):.6g}, "
                    f"{float(ref[1]):.6g}), training ({ours[0].item():.6g}, {ours[1].item():.6g})"
                )


def test_sigma_data_from_a_set_override_reaches_the_sampler():
    from diffusers import LCMScheduler

    from mcm.distill.scalings import boundary_scalings
    from mcm.sampler.lcm import build_lcm_scheduler

    teacher, _ = tiny_student()
    cfg = load_config("tiny", ["distill.sigma_data=0.3"])
    sched = build_lcm_scheduler(teacher, cfg.distill)
    for t in (0, 1, 2, 5, 19, 259, 999):
        c_skip, c_out = sched.get_scalings_for_boundary_condition_discrete(torch.tensor(t))
        ref_skip, ref_out = boundary_scalings(torch.tensor([t]), cfg.distill.timestep_scaling, 0.3)
        assert abs(float(c_skip) - ref_skip.item()) < 1e-7 and abs(float(c_out) - ref_out.item()) < 1e-7, (
            f"t={t}: sampler (c_skip, c_out) = ({float(c_skip):.6g}, {float(c_out):.6g}), "
            f"training with sigma_data=0.3 ({ref_skip.item():.6g}, {ref_out.item():.6g})"
        )
    # the scheduler's config round-trips sigma_data; the default keeps the stock, portable LCMScheduler
    assert type(sched).from_config(sched.config).config.sigma_data == 0.3
    assert type(build_lcm_scheduler(teacher, load_config("tiny").distill)) is LCMScheduler


def test_generator_is_deterministic_per_seed_and_batch_independent():
    teacher, cfg = tiny_student()
    gen = VideoGenerator(teacher, cfg, "lcm", 4, 0.0, 4)
    both = gen(["a", "b"], [1, 2])
    assert both.shape == (2, 4, 3, 16, 16) and both.min() >= 0 and both.max() <= 1
    torch.testing.assert_close(gen(["b"], [2])[0], both[1], rtol=1e-4, atol=1e-4)


def test_teacher_baselines_run_at_any_step_count():
    teacher, _ = tiny_student()
    text, uncond = teacher.encode_text(["a"]), teacher.encode_text([""])
    z = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    for name in ("ddim", "dpm++"):
        for steps in (1, 3, 10):
            out = sample_teacher_latents(teacher, name, text, uncond, z.shape[1:], steps, 7.5, torch.Generator(), z)
            assert out.shape == z.shape and torch.isfinite(out).all()


def test_mp4_round_trip(tmp_path):
    video = torch.linspace(-1, 1, 5)[:, None, None, None].expand(5, 3, 15, 17).clone()
    path = write_video(video, tmp_path / "v.mp4", fps=8)
    frames = read_mp4(path)
    assert frames.shape[0] == 5 and frames.shape[1] == 3
    means = frames.float().mean(dim=(1, 2, 3))
    expected = (video.mean(dim=(1, 2, 3)) + 1) * 127.5
    assert (means - expected).abs().max() < 6  # H.264 at default quality
    assert write_video(video, tmp_path / "v.gif").stat().st_size > 0


def test_untrained_student_generator_switches_the_lora_off(tmp_path):
    """lora=False: the student's network without its LoRA, the same LCM sampler (the untrained-student baseline)."""
    from mcm.config.load import config_to_yaml
    from mcm.runs.folder import write_exported_student
    from mcm.sampler.api import build_video_generator

    teacher, cfg = tiny_student()
    folder = write_exported_student(teacher.network, config_to_yaml(cfg), tmp_path / "student")
    prompts, seeds = ["a red ball moving left", "a blue box"], [0, 1]
    trained = build_video_generator(checkpoint=str(folder), steps=2)(prompts, seeds)
    untrained = build_video_generator(checkpoint=str(folder), steps=2, lora=False)(prompts, seeds)
    plain = load_teacher(cfg.teacher)  # no LoRA at all
    reference = VideoGenerator(plain, cfg, "lcm", 2, 0.0, cfg.data.num_frames)(prompts, seeds)
    torch.testing.assert_close(untrained, reference)
    assert (trained - untrained).abs().max() > 1e-3
    with pytest.raises(ValueError, match="lora=False needs a --checkpoint"):
        build_video_generator(teacher="tiny", scheduler="ddim", lora=False)
