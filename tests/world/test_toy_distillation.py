"""A short distillation in the small world teaches the student: its 2-step videos follow the prompts better and
lie closer to the true clips than those of the untrained student (the teacher's UNet with a zero LoRA, sampled
by the same consistency sampler), judged by the world's frozen evaluation networks with fixed seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mcm.config.load import load_config
from mcm.eval.config import EvalConfig, MethodSpec
from mcm.eval.runner import run_evaluation
from mcm.sampler.api import VideoGenerator, build_video_generator
from mcm.teachers.registry import load_teacher
from mcm.trainer.trainer import Trainer
from mcm.world.sets import WorldConfig
from mcm.world.write import write_world

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets/toy"
PROMPTS = 64
STEPS = 2
UNTRAINED = "untrained"
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


def _factory(run: Path):
    def make(steps: int, device: str, checkpoint: str):
        if checkpoint == UNTRAINED:  # the student before training: the teacher's UNet, zero LoRA
            cfg = load_config(str(run / "config.yaml"))
            return VideoGenerator(load_teacher(cfg.teacher), cfg, "lcm", steps, 0.0, cfg.data.num_frames)
        return build_video_generator(checkpoint=checkpoint, steps=steps, device=device)
    return make


@pytest.mark.slow
def test_short_distillation_improves_the_two_step_student(tmp_path):
    torch.manual_seed(0)
    world = tmp_path / "world"
    write_world(WorldConfig(num_videos=256, num_images=256, num_styled=8, prompts_per_set=PROMPTS), world)
    run = tmp_path / "run"
    cfg = load_config(BASE, OVERRIDES + [f"data.path={world / 'videos.csv'}", f"data.root={world}",
                                         f"images.path={world / 'images.csv'}", f"images.root={world}"])
    assert Trainer(cfg, run).train() == "done"

    methods = [MethodSpec(method=name, steps=STEPS, generator={"checkpoint": ckpt})
               for name, ckpt in (("untrained", UNTRAINED), ("distilled", str(run)))]
    ecfg = EvalConfig(prompts={"path": world / "prompts/seen.csv"}, protocol="toy",
                      toy={"networks": ASSETS / "eval"}, methods=methods, out_dir=tmp_path / "eval",
                      batch_size=PROMPTS, grid_prompts=0)
    doc = run_evaluation(ecfg, _factory(run))
    before, after = (r["metrics"] for r in doc["results"])
    assert after["prompt_acc"] >= before["prompt_acc"] + 10.0, (before, after)
    assert after["fvd_toy"] < before["fvd_toy"], (before, after)
