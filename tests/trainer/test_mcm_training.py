"""The MCM trainer loop: every loss term logged separately, the EMA head moves once per optimiser step, the
checkpoint holds every trained module under its own prefix."""

import torch
from safetensors.torch import load_file

from mcm.config.load import load_config
from mcm.trainer.metrics import read_metrics
from mcm.trainer.trainer import Trainer

UPDATES, ACCUM = 2, 2


def test_mcm_loop_logs_terms_steps_ema_per_update_and_checkpoints_everything(tmp_path):
    cfg = load_config("mcm_tiny", [f"optim.max_steps={UPDATES}", f"optim.global_batch={ACCUM * 2}", "optim.lr=1e-2",
                                   "train.log_every=1", "train.validate_every=0", f"train.checkpoint_every={UPDATES}"])
    trainer = Trainer(cfg, tmp_path / "run")
    head = trainer.motion.head
    ema_calls, original = [], head.ema_update
    head.ema_update = lambda *a: (ema_calls.append(trainer.position), original(*a))[1]
    target0 = {k: v.clone() for k, v in head.target.state_dict().items()}
    assert trainer.train() == "done"

    assert ema_calls == [ACCUM * (u + 1) - 1 for u in range(UPDATES)]  # at the last micro-batch of each update
    moved = max((head.target.state_dict()[k] - target0[k]).abs().max().item() for k in target0)
    assert moved > 0
    # after the last step: target = d * target_prev + (1 - d) * online, so it lags the online head
    online, target = head.online.conv_out.weight, head.target.conv_out.weight
    assert 0 < (target - online).abs().max() and target.abs().max() < online.abs().max()

    records = read_metrics(tmp_path / "run")
    assert [r["step"] for r in records] == list(range(1, UPDATES + 1))
    for key in ("loss_mcd", "loss_adv_g", "d_loss", "d_loss_real", "d_loss_fake", "d_penalty", "d_penalty_weight",
                "motion_collapse", "generated_start", "grad_norm"):
        assert all(key in r and r[key] == r[key] for r in records), key  # present and not NaN
    assert all(abs(r["loss"] - (r["loss_mcd"] + cfg.distill.lambda_adv * r["loss_adv_g"])) < 1e-5 for r in records)

    weights = load_file(str(trainer.checkpointer.latest() / "weights.safetensors"))
    groups = {k.split(".")[0] for k in weights}
    assert groups == {"student", "motion_head", "motion_head_ema", "discriminator"}
    torch.testing.assert_close(weights["motion_head_ema.conv_out.weight"], target)
    adam = trainer.adv.optimizer.optimizer.state_dict()["state"]
    assert {float(s["step"]) for s in adam.values()} == {float(UPDATES)}


def test_discriminator_lr_follows_the_students_warmup_and_cosine(tmp_path):
    """The authors schedule D with the student's arguments (issue 27: D's lr was constant)."""
    cfg = load_config("mcm_tiny", ["optim.max_steps=4", "optim.warmup_steps=2", "optim.global_batch=2",
                                   "optim.lr_scheduler=cosine", "optim.lr=1e-3", "discriminator.lr=1e-2",
                                   "train.validate_every=0", "train.checkpoint_every=4"])
    trainer = Trainer(cfg, tmp_path / "run")
    d_lrs, s_lrs = [], []
    step_lr = trainer.adv.step_lr

    def record():
        step_lr()
        d_lrs.append(trainer.adv.optimizer.optimizer.param_groups[0]["lr"] / cfg.discriminator.lr)
        s_lrs.append(trainer.optimizer.optimizer.param_groups[0]["lr"] / cfg.optim.lr)

    trainer.adv.step_lr = record
    assert trainer.train() == "done"
    # the lr of the next update, after each: warm-up over 2 updates to the peak, then cosine to zero
    assert d_lrs == s_lrs == [0.5, 1.0, 0.5, 0.0]
    states = torch.load(trainer.checkpointer.latest() / "optimizers.pt", weights_only=True)
    assert states["discriminator_lr_scheduler"]["last_epoch"] == 4
