"""Issue 8, defect 2: the no-grad passes (the teacher's guided ODE step, the target, the one-step generated
sample) are deterministic although the shared network trains: diffusers' UNet3D blocks carry
``TemporalConvLayer(dropout=0.1)``, whose zero-initialised last conv hides the dropout in random tiny teachers."""

import torch

from mcm.config.load import load_config
from mcm.distill.step import ConsistencyDistillation
from mcm.student.checkpointing import enable_gradient_checkpointing
from mcm.student.lora import add_lora
from mcm.teachers.registry import load_teacher
from mcm.trajectories.mixed import MixedTrajectories


def trained_teacher_with_live_temporal_convs():
    cfg = load_config("tiny")
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=0)
    g = torch.Generator().manual_seed(0)
    convs = [m for m in teacher.network.modules() if type(m).__name__ == "TemporalConvLayer"]
    assert convs, "the tiny ModelScope teacher has temporal conv layers"
    with torch.no_grad():
        for layer in convs:  # a trained teacher: the last conv of every temporal layer is non-zero
            layer.conv4[-1].weight.copy_(torch.randn(layer.conv4[-1].weight.shape, generator=g) * 0.5)
    enable_gradient_checkpointing(teacher.network)
    teacher.network.train()  # as the trainer leaves it, for the student's pass
    return cfg, teacher


def test_guided_teacher_target_and_one_step_sample_are_bit_identical_twice():
    cfg, teacher = trained_teacher_with_live_temporal_convs()
    cd = ConsistencyDistillation(teacher, cfg.distill)
    mixed = MixedTrajectories(cd, lambda_real=0.0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 4, 8, 8, generator=g)
    t = torch.tensor([999, 499])
    text, uncond = teacher.encode_text(["a red ball", "a blue cube"]), teacher.encode_text(["", ""])
    w = torch.tensor([6.0, 9.0])

    for name, fn in {
        "guided teacher step": lambda: cd.teacher_solver_step(x, t, text, uncond, w),
        "target": lambda: cd.target(x, t, text),
        "one-step sample": lambda: mixed.one_step_sample(x, text),
    }.items():
        first, second = fn(), fn()
        assert torch.equal(first, second), f"{name} differs between two identical calls"
    assert teacher.network.training  # the student's pass still trains (dropout, block checkpointing)

    # the dropout is real: the same guided forward in training mode is stochastic
    with torch.no_grad():
        a, b = teacher.guided_noise(x, t, text, uncond)[0], teacher.guided_noise(x, t, text, uncond)[0]
    assert not torch.equal(a, b)
