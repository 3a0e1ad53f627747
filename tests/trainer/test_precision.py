import math

import pytest
import torch

from mcm.config.load import load_config
from mcm.distill.draws import draw_rank_slice
from mcm.distill.step import ConsistencyDistillation
from mcm.student.checkpointing import enable_gradient_checkpointing
from mcm.student.lora import add_lora, trainable_parameters
from mcm.teachers.registry import load_teacher
from mcm.trainer.metrics import read_metrics
from mcm.trainer.trainer import Trainer


def test_bf16_autocast_run_trains_with_the_vae_in_fp32(tmp_path):
    cfg = load_config("tiny", ["train.mixed_precision=bf16", "optim.max_steps=2", "train.validate_every=0",
                               "train.log_every=1", "optim.lr=1e-3"])
    trainer = Trainer(cfg, tmp_path)
    before = [p.detach().clone() for p in trainer.params]
    assert trainer.train() == "done"
    losses = [r["loss_cd"] for r in read_metrics(tmp_path) if "loss_cd" in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    assert any((p - b).abs().max() > 0 for p, b in zip(trainer.params, before))
    assert all(p.dtype == torch.float32 for p in trainer.params)  # master weights stay fp32
    assert next(trainer.teacher.vae.parameters()).dtype == torch.float32


@pytest.mark.parametrize("kind, mechanism", [("tiny_modelscope", "blocks"), ("tiny_animatediff", "diffusers")])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(kind, mechanism):
    cfg = load_config("tiny", [f"teacher.kind={kind}"])
    results = []
    for checkpointing in (False, True):
        teacher = load_teacher(cfg.teacher)
        add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=0)
        if checkpointing:
            assert enable_gradient_checkpointing(teacher.network) == mechanism
        teacher.network.train()
        cd = ConsistencyDistillation(teacher, cfg.distill)
        g = torch.Generator().manual_seed(0)
        latents = torch.randn(2, 4, 4, 8, 8, generator=g)
        noise = draw_rank_slice(0, 0, 2, tuple(latents.shape[1:]), 50, cfg.teacher)
        text = teacher.encode_text(["a", "b"])
        out = cd.loss(latents, text, teacher.encode_text(["", ""]), noise)
        out.loss.backward()
        results.append((out.loss.detach(), [p.grad.clone() for p in trainable_parameters(teacher.network)]))
    (l0, g0), (l1, g1) = results
    torch.testing.assert_close(l0, l1)
    for a, b in zip(g0, g1):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_animatediff_student_trains(tmp_path):
    cfg = load_config("tiny", ["teacher.kind=tiny_animatediff", "optim.max_steps=2", "train.validate_every=2",
                               "optim.lr=1e-3"])
    trainer = Trainer(cfg, tmp_path)
    before = [p.detach().clone() for p in trainer.params]
    assert trainer.train() == "done"
    assert any((p - b).abs().max() > 0 for p, b in zip(trainer.params, before))
    assert list((tmp_path / "validation" / "step-00000002").glob("*.mp4"))
