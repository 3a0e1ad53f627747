"""The MCM training step (issue 3: 'What it must show'), through the real trainer's step code:
the MCD loss of Eq. 6 through the motion head, the adversarial loss on l decoded frames of the raw student
prediction, and the separation of the student's and the discriminator's updates."""

import pytest
import torch

import mcm.distill.adversarial as adversarial
from mcm.config.load import load_config
from mcm.distill.step import ConsistencyDistillation
from mcm.motion.representations import build_motion_representation
from mcm.motion.config import MotionConfig
from mcm.trainer.trainer import Trainer

OVERRIDES = ["train.validate_every=0", "distill.lambda_real=0.5"]


@pytest.fixture
def trainer(tmp_path) -> Trainer:
    # per test: the suite's conftest resets accelerate's process-wide state after every test
    return Trainer(load_config("mcm_tiny", OVERRIDES), tmp_path / "run")


def clear_grads(trainer: Trainer) -> None:
    for p in trainer.params + trainer.motion_params + trainer.adv.params:
        p.grad = None


def first_batch(trainer: Trainer) -> dict:
    return next(iter(trainer.loader))


def start_of(trainer: Trainer, micro: int = 0):
    """(micro-batch, draws, Eq. 7-8 start) of the trainer's first batch, through the step's own code."""
    batch, noise = trainer.step_inputs(first_batch(trainer), micro)
    return batch, noise, trainer.mcm_step.start(batch, noise, trainer.text_embeddings)


def test_mcd_with_the_identity_head_equals_the_lcm_loss(trainer):
    """At initialisation the learnable head is the identity, so Eq. 6 gives Eq. 3's value exactly; the EMA head
    gets no gradient and the online head's zero-initialised last layer does."""
    clear_grads(trainer)
    batch, noise, start = start_of(trainer)
    lcm = ConsistencyDistillation(trainer.teacher, trainer.cfg.distill, build_motion_representation(MotionConfig(name="raw")))
    with torch.no_grad():
        ref = lcm.loss(start.latents, start.text, batch.uncond, noise).loss
    out = trainer.distill.loss(start.latents, start.text, batch.uncond, noise)
    torch.testing.assert_close(out.loss, ref, rtol=1e-6, atol=0)
    assert float(out.collapse) == pytest.approx(1.0, abs=1e-6)  # identity head: output variance = input variance
    out.loss.backward()
    head = trainer.motion.head
    assert head.online.conv_out.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in head.target.parameters())
    clear_grads(trainer)


def test_no_grad_passes_run_before_the_student_forward(trainer):
    calls = []
    hook = trainer.teacher.network.register_forward_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    try:
        batch, noise, start = start_of(trainer)
        calls.clear()
        trainer.distill.loss(start.latents, start.text, batch.uncond, noise, trainer.student_net)
    finally:
        hook.remove()
    assert calls == [False, False, True]  # teacher (cond+uncond batched), target, then the student


def test_only_l_frames_per_video_are_decoded_from_the_raw_student_prediction(trainer, monkeypatch):
    clear_grads(trainer)
    decoded, seen = [], {}
    vae = trainer.teacher.vae
    original_decode = vae.decode
    monkeypatch.setattr(vae, "decode", lambda z, *a, **k: decoded.append(z.shape[0]) or original_decode(z, *a, **k))
    original_loss = trainer.distill.loss

    def spy_loss(*args, **kwargs):
        seen["out"] = original_loss(*args, **kwargs)
        return seen["out"]

    original_sparse = adversarial.decode_sparse_frames
    monkeypatch.setattr(trainer.distill, "loss", spy_loss)
    monkeypatch.setattr(adversarial, "decode_sparse_frames",
                        lambda fn, latents, idx, *a: seen.setdefault("latents", latents) is not None
                        and original_sparse(fn, latents, idx, *a))
    batch = first_batch(trainer)
    trainer.micro_step(batch, 0)
    b, l = len(batch["caption"]), trainer.cfg.discriminator.sparse_frames
    assert sum(decoded) == b * l and l < trainer.cfg.data.num_frames  # l of F frames, once, per video
    assert seen["latents"] is seen["out"].student_x0  # the raw prediction, not M(student)
    clear_grads(trainer)


def test_student_step_leaves_the_discriminator_untouched_and_vice_versa(trainer, monkeypatch):
    import mcm.distill.mcm_step as mcm_step

    clear_grads(trainer)
    disc = trainer.adv.disc
    d_state = {k: v.clone() for k, v in disc.state_dict().items()}
    at_d_loss = {}
    original = mcm_step.discriminator_loss

    def spy(*args, **kwargs):  # D's state once the student's side (Eq. 6, Eq. 4) has run
        at_d_loss.update({k: v.clone() for k, v in disc.state_dict().items()})
        return original(*args, **kwargs)

    monkeypatch.setattr(mcm_step, "discriminator_loss", spy)
    out = trainer.losses(first_batch(trainer), 0)
    terms = out.terms
    trainer.optimizer.backward(out.student)  # the student's backward, as the trainer's micro-step runs it
    assert "loss_adv_g" in terms and "loss_mcd" in terms
    assert all(p.grad is None for p in disc.parameters())  # no gradient ...
    assert all(torch.equal(v, d_state[k]) for k, v in at_d_loss.items())  # ... and no state change
    student_grads = [p.grad.clone() for p in trainer.params + trainer.motion_params]
    assert sum(g.abs().sum() for g in student_grads) > 0

    trainer.adv.optimizer.backward(out.discriminator)  # then the discriminator's
    assert terms["d_loss"] > 0
    assert sum(p.grad.abs().sum() for p in trainer.adv.params) > 0
    for p, g in zip(trainer.params + trainer.motion_params, student_grads):
        assert torch.equal(p.grad, g)  # the discriminator's loss reached no student parameter
    clear_grads(trainer)
