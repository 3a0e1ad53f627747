"""A short distillation of the embedded default in the small world teaches the student: its 2-step videos follow
the prompts better than those of the untrained student (the same network with its LoRA off, sampled by the same
consistency sampler), judged by the world's frozen attribute classifiers with fixed prompts and seeds.

Measured with these settings (1 thread, issue 27): 28 of 64 seen prompts untrained, 34 of 64 after 48 updates
(+9.4 points). The assertion asks for +5 (more than one prompt in twenty); it says nothing about fvd_toy, which
measures the look of clean clips (the discriminator changes the look), not what distillation is for."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mcm.config.load import load_config
from mcm.sampler.api import build_video_generator
from mcm.trainer.trainer import Trainer
from mcm.world.sets import WorldConfig
from mcm.world.write import write_world

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets/toy"
PROMPTS = 64
STEPS = 2
#: The embedded default (toy_mcm: full MCM, its discriminator on M, its skip grid, learning rates and schedule)
#: with two settings changed, named here: the run is cut to MAX_STEPS updates (its cosine schedule with it) and
#: the batch to BATCH. Everything else is the preset's; only the data paths point at this test's world.
BASE = "toy_mcm"
MAX_STEPS, BATCH = 48, 4
OVERRIDES = [
    f"teacher.path={ASSETS / 'teacher'}", f"optim.max_steps={MAX_STEPS}", f"data.batch_size={BATCH}",
    f"optim.global_batch={BATCH}", "data.source=csv", "images.source=csv", "images.path_column=url",
    "images.min_aesthetic=6.0",
    "train.validate_every=0", f"train.checkpoint_every={MAX_STEPS}", "train.log_every=16",
]


#: Points of 2-step prompt accuracy the short run must add over the untrained student.
MIN_GAIN = 5.0


def _two_step_accuracy(run: Path, world: Path, lora: bool) -> float:
    """% of the world's seen prompts (seeds 0..63) whose 2-step video has the prompt's shape, colour and direction."""
    from mcm.eval.prompts import load_prompt_set
    from mcm.eval.config import PromptSetConfig
    from mcm.world.evalnets import load_eval_networks
    from mcm.world.spec import ATTRIBUTES, parse_caption

    prompts = load_prompt_set(PromptSetConfig(path=world / "prompts/seen.csv")).prompts[:PROMPTS]
    gen = build_video_generator(checkpoint=str(run), steps=STEPS, lora=lora)
    videos = gen(prompts, list(range(len(prompts)))).float().clamp(0, 1)
    logits = load_eval_networks(ASSETS / "eval").attribute_logits(videos)
    truth = [parse_caption(p) for p in prompts]
    ok = torch.stack([logits[a].argmax(-1) == torch.tensor([getattr(c, a) for c in truth]) for a in ATTRIBUTES])
    return 100.0 * ok.all(0).float().mean().item()


@pytest.mark.slow
def test_short_distillation_improves_the_two_step_student(tmp_path):
    torch.manual_seed(0)
    world = tmp_path / "world"
    write_world(WorldConfig(num_videos=256, num_images=256, num_styled=8, prompts_per_set=PROMPTS), world)
    run = tmp_path / "run"
    cfg = load_config(BASE, OVERRIDES + [f"data.path={world / 'videos.csv'}", f"data.root={world}",
                                         f"images.path={world / 'images.csv'}", f"images.root={world}"])
    assert Trainer(cfg, run).train() == "done"

    before = _two_step_accuracy(run, world, lora=False)
    after = _two_step_accuracy(run, world, lora=True)
    assert after >= before + MIN_GAIN, (before, after)
