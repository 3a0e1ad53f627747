"""Mixed trajectory distillation (Eq. 7-9; issue 3: 'What it must show'), through the trainer's draws and step."""

import math

import pytest
import torch

from mcm.config.load import load_config
from mcm.trainer.trainer import Trainer
from mcm.trajectories.mixed import MixedTrajectories, draw_generated

DRAWS = 2000
SIGMAS = 4.0  # binomial tolerance: |share - p| <= 4 sqrt(p (1 - p) / n)  (false alarm ~6e-5)


def make_trainer(tmp_path, preset: str, *overrides: str) -> Trainer:
    return Trainer(load_config(preset, ["train.validate_every=0", *overrides]), tmp_path / "run")


@pytest.fixture
def mcm(tmp_path) -> Trainer:
    # per test: the suite's conftest resets accelerate's process-wide state after every test
    return make_trainer(tmp_path, "mcm_tiny", "distill.lambda_real=0.3")


def generated_flags(trainer: Trainer, n: int, accum: int = 4) -> list[bool]:
    """The coin of every (update, micro-batch) of the trainer's first n micro-batches."""
    flags, saved = [], trainer.step
    for k in range(n):
        trainer.step, micro = divmod(k, accum)
        flags.append(trainer.step_noise(micro, (4, 4, 8, 8), 2).generated)
    trainer.step = saved
    return flags


@pytest.mark.parametrize("lambda_real", [0.3, 0.5])
def test_share_of_generated_starts_matches_one_minus_lambda_real(mcm, lambda_real):
    mcm.mixed.lambda_real = lambda_real  # the one object that owns lambda_real
    try:
        share = sum(generated_flags(mcm, DRAWS)) / DRAWS
    finally:
        mcm.mixed.lambda_real = 0.3
    p = 1.0 - lambda_real
    assert abs(share - p) <= SIGMAS * math.sqrt(p * (1 - p) / DRAWS), share


def test_every_rank_takes_the_same_branch(mcm):
    """Two ranks with batch 1 draw the coin that one process with batch 2 draws (one coin per global batch)."""
    one = generated_flags(mcm, 200)
    saved = mcm.rank, mcm.world
    try:
        per_rank = []
        for rank in (0, 1):
            mcm.rank, mcm.world = rank, 2
            flags = []
            for k in range(200):
                mcm.step, micro = divmod(k, 4)
                flags.append(mcm.step_noise(micro, (4, 4, 8, 8), 1).generated)
            per_rank.append(flags)
    finally:
        (mcm.rank, mcm.world), mcm.step = saved, 0
    assert per_rank[0] == per_rank[1] == one
    assert 0 < sum(one) < len(one)


def test_draw_generated_edges():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert not any(draw_generated(g, 1.0) for _ in range(100))
    assert torch.equal(g.get_state(), state)  # lambda_real = 1 draws nothing: LCM draws stay as they were
    assert all(draw_generated(g, 0.0) for _ in range(100))
    with pytest.raises(ValueError, match="lambda_real"):
        draw_generated(g, 1.5)


def test_lambda_real_one_never_calls_the_one_step_sampler(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, "mcm_mixed_1")
    calls = []
    original = MixedTrajectories.one_step_sample
    monkeypatch.setattr(MixedTrajectories, "one_step_sample", lambda self, *a: calls.append(1) or original(self, *a))
    batches = iter(trainer.loader)
    for micro in range(6):
        trainer.micro_step(next(batches), micro)
    assert calls == []
    trainer.mixed.lambda_real = 0.0  # the spy works: all-generated calls it on every micro-batch
    for micro in range(3):
        terms = trainer.micro_step(next(batches), micro)
        assert float(terms["generated_start"]) == 1.0 and "loss_adv_g" in terms and "loss_mcd" in terms
    assert len(calls) == 3


def test_generated_branch_starts_from_the_one_step_sample_without_gradients(mcm):
    mcm.mixed.lambda_real = 0.0
    try:
        batch = next(iter(mcm.loader))
        micro, noise = mcm.step_inputs(batch, 0)
        start = mcm.mcm_step.start(micro, noise, mcm.text_embeddings)
    finally:
        mcm.mixed.lambda_real = 0.3
    assert noise.generated
    expected = mcm.mixed.one_step_sample(noise.start_noise, mcm.text_embeddings(start.captions))
    torch.testing.assert_close(start.latents, expected)
    assert not start.latents.requires_grad
    real = mcm.teacher.encode_video(batch["video"])
    assert (start.latents - real).abs().max() > 1e-3  # not the real video latents


def test_generated_branch_is_conditioned_on_the_image_captions(tmp_path):
    trainer = make_trainer(tmp_path, "mcm_mixed_0", "images.source=synthetic", "images.synthetic_size=32")
    batch = next(iter(trainer.loader))
    micro, noise = trainer.step_inputs(batch, 0)
    start = trainer.mcm_step.start(micro, noise, trainer.text_embeddings)
    l = trainer.cfg.discriminator.sparse_frames
    assert micro.real_images.shape[0] == len(batch["caption"]) * l
    assert start.captions == micro.real_captions[::l] != list(batch["caption"])
    trainer.mixed.caption_source = "video"
    assert trainer.mcm_step.start(micro, noise, trainer.text_embeddings).captions == list(batch["caption"])
