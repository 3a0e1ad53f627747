"""Issue 8, defects 6, 7 and 9: what keeps ranks identical and a step free of per-micro-batch host syncs.

* the motion head and the discriminator heads are seeded, not drawn from the global RNG (ranks agree even
  when one of them consumed that RNG differently);
* a rank draws only its own slice of the global micro-batch's noise, equal to one process's draws;
* the penalty weight's growth is checked at the logging interval, not on every micro-batch;
* caption embeddings are cached on the CPU, bounded in bytes."""

import numpy as np
import torch

import mcm.trainer.trainer as trainer_module
from mcm.config.load import load_config
from mcm.discriminator.loss import PenaltyWeight
from mcm.trainer.trainer import Trainer

BASE = ["train.validate_every=0", "train.checkpoint_every=100"]


def heads(trainer: Trainer) -> dict[str, torch.Tensor]:
    state = {f"motion.{k}": v for k, v in trainer.motion.head.online.state_dict().items()}
    state.update({f"disc.{k}": v for k, v in trainer.adv.disc.trainable_state_dict().items()})
    return state


def test_heads_start_identical_after_an_extra_rng_draw_on_one_rank(tmp_path, monkeypatch):
    plain = heads(Trainer(load_config("mcm_tiny", BASE), tmp_path / "rank0"))
    original = trainer_module.load_teacher

    def load_and_draw(cfg):  # "rank 1" consumes the global RNG once more than "rank 0"
        teacher = original(cfg)
        torch.randn(1000)
        return teacher

    monkeypatch.setattr(trainer_module, "load_teacher", load_and_draw)
    drawn = heads(Trainer(load_config("mcm_tiny", BASE), tmp_path / "rank1"))
    assert plain.keys() == drawn.keys()
    different = [k for k in plain if not torch.equal(plain[k], drawn[k])]
    assert not different, f"heads differ after one extra RNG draw: {different[:4]}"


def test_a_rank_draws_only_its_slice_and_it_equals_one_process(tmp_path, monkeypatch):
    trainer = Trainer(load_config("mcm_tiny", BASE), tmp_path / "run")
    shape, world = (4, 4, 8, 8), 16
    one_process = trainer.step_noise(0, shape, world)  # rank 0 of 1, the whole global batch
    drawn = []
    original_randn, original_generator = torch.randn, np.random.Generator

    class CountingGenerator(original_generator):  # counts the uniforms of the counter-based stream
        def random(self, size=None, *args, **kwargs):
            drawn.append(int(np.prod(size)) if size is not None else 1)
            return super().random(size, *args, **kwargs)

    monkeypatch.setattr(torch, "randn", lambda *a, **k: drawn.append(original_randn(*a, **k).numel()) or original_randn(*a, **k))
    monkeypatch.setattr(np.random, "Generator", CountingGenerator)
    trainer.rank, trainer.world = 5, world
    mine = trainer.step_noise(0, shape, 1)
    latent = torch.Size(shape).numel()
    assert 0 < sum(drawn) <= 2 * latent + 64  # its own noise (+ the one-step sample's), not 16x
    torch.testing.assert_close(mine.noise, one_process.noise[5:6])
    torch.testing.assert_close(mine.index, one_process.index[5:6])
    torch.testing.assert_close(mine.frames, one_process.frames[5:6])
    assert mine.generated == one_process.generated


def test_penalty_weight_is_checked_at_the_logging_interval_only(tmp_path, monkeypatch):
    updates, accum, log_every = 2, 2, 2
    calls = []
    original = PenaltyWeight.update
    monkeypatch.setattr(PenaltyWeight, "update", lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    cfg = load_config("mcm_tiny", [*BASE, f"optim.max_steps={updates}", f"optim.global_batch={2 * accum}",
                                   f"train.log_every={log_every}"])
    assert Trainer(cfg, tmp_path / "run").train() == "done"
    assert len(calls) == updates // log_every  # not once per micro-batch (4)


def test_text_cache_is_on_the_cpu_bounded_in_bytes_and_exact(tmp_path):
    cfg = load_config("tiny", [*BASE, "data.text_cache_mb=0.001"])  # ~1 KiB: a few tiny embeddings
    trainer = Trainer(cfg, tmp_path / "run")
    captions = [f"caption number {i}" for i in range(12)]
    got = trainer.text_embeddings(captions)
    torch.testing.assert_close(got, trainer.teacher.encode_text(captions).to(got.device))
    cache = trainer.text_cache
    assert 0 < len(cache) < len(captions) and cache.bytes <= cfg.data.text_cache_mb * 2**20
    assert all(v.device.type == "cpu" for v in cache.values())
    again = trainer.text_embeddings(captions[-2:] + captions[:1])  # hits and misses mixed
    torch.testing.assert_close(again, trainer.teacher.encode_text(captions[-2:] + captions[:1]).to(got.device))
