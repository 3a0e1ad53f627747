"""Issue 27: a generated micro-batch (Eq. 8) starts from the student's one-step sample, so the trainer does not
encode its video (the latents would be discarded); the draws, the losses and the gradients stay today's."""

import copy

import pytest
import torch

from mcm.config.load import load_config
from mcm.trainer.trainer import Trainer

SEARCH = 16  # micro-batch indices searched for each branch (lambda_real 0.5: both within a few)


@pytest.fixture
def trainer(tmp_path) -> Trainer:
    # per test: the suite's conftest resets accelerate's process-wide state after every test
    return Trainer(load_config("mcm_tiny", ["train.validate_every=0", "distill.lambda_real=0.5"]), tmp_path / "run")


def micro_of_branch(trainer: Trainer, video: torch.Tensor, generated: bool) -> int:
    """The first micro-batch index of update 0 whose coin takes the given branch."""
    shape = trainer.latent_shape(video)
    for micro in range(SEARCH):
        if trainer.step_noise(micro, shape, video.shape[0]).generated == generated:
            return micro
    raise AssertionError(f"no {'generated' if generated else 'real'} micro-batch among the first {SEARCH}")


def count_encodes(trainer: Trainer, monkeypatch) -> list[int]:
    """Spy on the VAE encoder: one entry (the frame count) per call."""
    calls, vae = [], trainer.teacher.vae
    original = vae.encode
    monkeypatch.setattr(vae, "encode", lambda x, *a, **k: calls.append(x.shape[0]) or original(x, *a, **k))
    return calls


def micro_step_result(trainer: Trainer, batch: dict, micro: int, always_encode: bool, seed: int = 0):
    """(logged terms, student + motion head + D gradients) of one micro-step, from a fixed global RNG state (the
    student's dropout) and D's state at the first call (its forward updates buffers, e.g. spectral norms' power
    iteration); gradients cleared afterwards."""
    disc = trainer.adv.disc
    if not hasattr(disc, "_state_before"):
        disc._state_before = copy.deepcopy(disc.state_dict())
    disc.load_state_dict(disc._state_before)
    trainer.always_encode = always_encode
    params = trainer.params + trainer.motion_params + trainer.adv.params
    for p in params:
        p.grad = None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        terms = trainer.micro_step(batch, micro)
    grads = [None if p.grad is None else p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    return {k: v.clone() for k, v in terms.items()}, grads


def test_latent_shape_without_encoding_is_the_encoders(trainer):
    vae = trainer.teacher.vae
    for size in [(2, 3, 3, 32, 32), (1, 2, 3, 33, 30), (1, 1, 3, 17, 15)]:  # (B, F, 3, H, W), odd sizes too
        video = torch.rand(size) * 2 - 1
        assert trainer.latent_shape(video) == tuple(trainer.teacher.encode_video(video).shape[1:]), size
    assert trainer.latent_shape(torch.zeros(1, 4, 3, 32, 32))[0] == vae.config.latent_channels


def test_generated_micro_batch_does_not_encode_and_keeps_todays_draws_losses_and_gradients(trainer, monkeypatch):
    batch = next(iter(trainer.loader))
    micro = micro_of_branch(trainer, batch["video"], generated=True)
    calls = count_encodes(trainer, monkeypatch)

    inputs, noise = trainer.step_inputs(batch, micro)
    assert noise.generated and calls == []  # today: one encode of B*F frames
    trainer.always_encode = True
    old_inputs, old_noise = trainer.step_inputs(batch, micro)
    trainer.always_encode = False
    assert calls == [batch["video"].shape[0] * batch["video"].shape[1]]  # the old path does encode
    assert inputs.latents.shape == old_inputs.latents.shape and inputs.latents.dtype == old_inputs.latents.dtype
    for name in ("index", "noise", "w", "start_noise", "frames", "aug_seeds"):  # the same draws
        assert torch.equal(getattr(noise, name), getattr(old_noise, name)), name
    assert torch.equal(inputs.real_images, old_inputs.real_images) and inputs.real_captions == old_inputs.real_captions

    calls.clear()
    new_terms, new_grads = micro_step_result(trainer, batch, micro, always_encode=False)
    assert calls == [] and float(new_terms["generated_start"]) == 1.0
    old_terms, old_grads = micro_step_result(trainer, batch, micro, always_encode=True)
    assert calls  # the old path encoded
    assert new_terms.keys() == old_terms.keys()
    for key in new_terms:
        assert torch.equal(new_terms[key], old_terms[key]), key
    assert sum(g is not None for g in new_grads) > 0
    for new, old in zip(new_grads, old_grads):
        assert (new is None and old is None) or torch.equal(new, old)


def test_real_micro_batch_still_encodes_with_todays_losses(trainer, monkeypatch):
    batch = next(iter(trainer.loader))
    micro = micro_of_branch(trainer, batch["video"], generated=False)
    calls = count_encodes(trainer, monkeypatch)
    inputs, noise = trainer.step_inputs(batch, micro)
    assert not noise.generated and calls
    assert torch.equal(inputs.latents, trainer.teacher.encode_video(batch["video"]))
    new_terms, new_grads = micro_step_result(trainer, batch, micro, always_encode=False)
    old_terms, old_grads = micro_step_result(trainer, batch, micro, always_encode=True)
    assert float(new_terms["generated_start"]) == 0.0
    for key in new_terms:
        assert torch.equal(new_terms[key], old_terms[key]), key
    for new, old in zip(new_grads, old_grads):
        assert (new is None and old is None) or torch.equal(new, old)
