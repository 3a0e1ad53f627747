"""Issue 8, defect 1: under fp16 each optimiser (student, discriminator) has its own GradScaler, unscaled and
updated exactly once per optimiser update, and the scalers' state is in every checkpoint. bf16 is the GPU
presets' default; fp16 stays supported. (accelerate's one shared scaler unscaled the discriminator's gradients
twice and updated the scale twice per update.)"""

from collections import Counter

import pytest
import torch

from mcm.config.load import load_config
from mcm.trainer.trainer import Trainer

UPDATES, ACCUM = 1, 2
OVERRIDES = [f"optim.max_steps={UPDATES}", f"optim.global_batch={2 * ACCUM}", "optim.warmup_steps=0",
             "train.validate_every=0", f"train.checkpoint_every={UPDATES}", "train.log_every=1"]


def spy_scalers(monkeypatch) -> dict[str, Counter]:
    calls = {"unscale_": Counter(), "update": Counter(), "step": Counter()}
    for name in calls:
        original = getattr(torch.amp.GradScaler, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            if self.is_enabled():
                calls[_name][id(self)] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.amp.GradScaler, name, spy)
    return calls


def test_each_optimizer_has_its_own_scaler_unscaled_and_updated_once_per_update(tmp_path, monkeypatch):
    calls = spy_scalers(monkeypatch)
    trainer = Trainer(load_config("mcm_tiny", ["train.mixed_precision=fp16", *OVERRIDES]), tmp_path / "run")
    assert trainer.train() == "done"
    scalers = {id(trainer.optimizer.scaler), id(trainer.adv.optimizer.scaler)}
    assert len(scalers) == 2, "the student and the discriminator must not share a GradScaler"
    for name in ("unscale_", "update", "step"):
        assert dict(calls[name]) == {s: UPDATES for s in scalers}, (name, dict(calls[name]))
    # the scalers' state (scale, growth tracker) is saved with the optimisers
    states = torch.load(trainer.checkpointer.latest() / "optimizers.pt", weights_only=True)
    for key in ("optimizer", "discriminator_optimizer"):
        assert states[key]["scaler"]["scale"] > 0, key


def discriminator_update(tmp_path, precision: str) -> float:
    overrides = [f"train.mixed_precision='{precision}'", "optim.max_steps=1", "optim.global_batch=2",
                 "optim.warmup_steps=0", "train.validate_every=0", "train.checkpoint_every=100",
                 "discriminator.penalty=none"]
    trainer = Trainer(load_config("mcm_tiny", overrides), tmp_path / precision)
    before = [p.detach().clone() for p in trainer.adv.params]
    trainer.train()
    return max((p.detach() - b).abs().max().item() for p, b in zip(trainer.adv.params, before))


def test_fp16_discriminator_update_matches_fp32(tmp_path):
    """One Adam update moves each weight by about lr: gradients divided by the scale twice would shrink it far
    below (|g| << eps)."""
    lr = load_config("mcm_tiny").discriminator.lr
    fp32, fp16 = discriminator_update(tmp_path, "no"), discriminator_update(tmp_path, "fp16")
    assert fp32 == pytest.approx(lr, rel=0.5)
    assert 0.5 < fp16 / fp32 < 2.0, (fp16, fp32)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_gpu_one_update_moves_the_discriminator_by_about_lr(tmp_path, precision):
    lr = load_config("mcm_tiny").discriminator.lr
    assert discriminator_update(tmp_path, precision) == pytest.approx(lr, rel=0.5)


def test_gpu_presets_default_to_bf16():
    for preset in ("modelscope", "animatediff"):
        assert load_config(preset).train.mixed_precision == "bf16"


def test_the_trap_avoided_accelerates_shared_scaler_unscales_the_second_optimizer_twice(monkeypatch):
    """Why the trainer does not let accelerate prepare its optimisers (accelerate==1.15.0, pinned): the old
    sequence (backward both, clip, step the student, step the discriminator) with accelerate's one GradScaler,
    as it is on a GPU, divides the second optimiser's gradients by the scale twice and updates the scale twice.
    If a newer accelerate fixes this, this test fails and ScaledOptimizer can be reconsidered."""
    from accelerate import Accelerator

    calls = spy_scalers(monkeypatch)
    acc = Accelerator(cpu=True)
    scale = 2.0**16
    acc.scaler = torch.amp.GradScaler("cpu", init_scale=scale)
    acc.native_amp = True
    acc.state._mixed_precision = "fp16"  # what accelerate sets on a GPU (reset by the suite's conftest)
    student, disc = torch.nn.Linear(4, 1), torch.nn.Linear(4, 1)
    opt_s = acc.prepare(torch.optim.SGD(student.parameters(), lr=1.0))
    opt_d = acc.prepare(torch.optim.SGD(disc.parameters(), lr=1.0))
    x = torch.ones(2, 4)
    acc.backward(student(x).sum())
    acc.backward(disc(x).sum())
    acc.clip_grad_norm_(list(student.parameters()), 10.0)
    before = disc.weight.detach().clone()
    opt_s.step()
    opt_d.step()
    true_step = 2.0  # lr x d/dw of sum over 2 rows of ones
    assert sum(calls["update"].values()) == 2  # the scale is updated twice per optimiser update
    assert float((before - disc.weight.detach()).mean()) == pytest.approx(true_step / scale)  # unscaled twice
