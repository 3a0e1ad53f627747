import torch

from mcm.config import load_config
from mcm.distill.step import ConsistencyDistillation
from mcm.sampler.api import VideoGenerator
from mcm.sampler.baselines import sample_teacher_latents
from mcm.sampler.lcm import sample_student_latents
from mcm.sampler.video_io import read_mp4, write_video
from mcm.student.lora import add_lora
from mcm.teachers.registry import load_teacher


def tiny_student():
    cfg = load_config("tiny")
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets)
    with torch.no_grad():
        for name, p in teacher.network.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(3))
    return teacher, cfg


def test_one_step_lcm_sampling_equals_the_trained_consistency_function():
    teacher, cfg = tiny_student()
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
        distill = cfg.distill.model_copy(update={"timestep_scaling": s})
        sched = build_lcm_scheduler(teacher, distill)
        sched.set_timesteps(4)
        assert sched.timesteps.tolist() == [999, 759, 499, 259]
        for t in (1, 2, 19, 999):  # the scalings only differ near t = 0
            ref = sched.get_scalings_for_boundary_condition_discrete(torch.tensor(t))
            ours = boundary_scalings(torch.tensor([t]), s, cfg.distill.sigma_data)
            assert abs(float(ref[0]) - ours[0].item()) < 1e-7 and abs(float(ref[1]) - ours[1].item()) < 1e-7


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
