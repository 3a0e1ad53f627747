"""Correctness on an analytic teacher (issue: 'What it must show').

The teacher is the exact denoiser of a 2-D Gaussian mixture; the student (a LoRA on its correction MLP)
starts equal to it. After a short distillation through the real trainer, the student's one-step sample from
noise z must be at least 5x closer to the teacher's 50-step DDIM endpoint from the same z than the teacher's
own one-step prediction is.
"""

import torch

from mcm.config.load import load_config
from mcm.distill.step import ConsistencyDistillation
from mcm.student.lora import adapters_disabled
from mcm.trainer.trainer import Trainer

REQUIRED_IMPROVEMENT = 5.0


@torch.no_grad()
def ddim_endpoint(cd: ConsistencyDistillation, z: torch.Tensor) -> torch.Tensor:
    """The teacher's 50-step DDIM sample (eta 0) from z on the skip grid; returns the final x0 prediction."""
    teacher, solver = cd.teacher, cd.solver
    x = z
    with adapters_disabled(teacher.network):
        for t in reversed(solver.timesteps.tolist()):
            tt = torch.full((z.shape[0],), t)
            eps = teacher.predict_noise(x, tt, None)
            x0 = solver.predicted_x0(x, eps, tt)
            x = solver.step(x0, eps, solver.previous_timestep(tt))
    return x0


@torch.no_grad()
def one_step(cd: ConsistencyDistillation, z: torch.Tensor) -> torch.Tensor:
    return cd.consistency_fn(z, torch.full((z.shape[0],), 999), None)


def test_one_step_student_approaches_the_teacher_ddim_endpoint(tmp_path):
    cfg = load_config("gmm")
    trainer = Trainer(cfg, tmp_path / "run")
    cd = trainer.distill
    z = torch.randn(1024, 2, 1, 1, 1, generator=torch.Generator().manual_seed(1234))
    reference = ddim_endpoint(cd, z)
    with adapters_disabled(trainer.teacher.network):
        teacher_err = (one_step(cd, z) - reference).flatten(1).norm(dim=1).mean()
    start_err = (one_step(cd, z) - reference).flatten(1).norm(dim=1).mean()
    torch.testing.assert_close(start_err, teacher_err)  # the student starts as the teacher

    assert trainer.train() == "done"

    student_err = (one_step(cd, z) - reference).flatten(1).norm(dim=1).mean()
    ratio = float(teacher_err / student_err)
    print(f"teacher one-step error {teacher_err:.3f}, student {student_err:.3f}, ratio {ratio:.1f}")
    assert ratio >= REQUIRED_IMPROVEMENT
