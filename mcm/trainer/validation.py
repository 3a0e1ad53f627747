"""Validation videos for fixed prompts and seeds, and a collapse statistic.

Every ``train.validate_every`` updates the student samples each validation prompt with each seed at
``train.validation_steps`` steps; the videos go to ``RUN/validation/step-XXXXXXXX/`` and the statistics to the
metrics: ``val_near_black`` is the share of videos whose mean brightness (in [0, 1]) is below
``train.black_threshold`` (the failure of Appendix B.1), ``val_pixel_std`` the spread across videos (near 0
when every prompt gives the same video: mode collapse).
"""

from __future__ import annotations

from pathlib import Path

import torch

from mcm.config.schema import MCMConfig
from mcm.sampler.api import VideoGenerator
from mcm.sampler.video_io import write_video
from mcm.teachers.base import Teacher


def collapse_statistics(videos: torch.Tensor, black_threshold: float) -> dict[str, float]:
    """videos (N, F, 3, H, W) in [0, 1] -> near-black share, mean brightness, spread across videos."""
    brightness = videos.flatten(1).mean(dim=1)
    return {
        "val_near_black": float((brightness < black_threshold).float().mean()),
        "val_brightness": float(brightness.mean()),
        "val_pixel_std": float(videos.std(dim=0).mean()) if videos.shape[0] > 1 else 0.0,
        "val_temporal_std": float(videos.std(dim=1).mean()) if videos.shape[1] > 1 else 0.0,
    }


def run_validation(teacher: Teacher, cfg: MCMConfig, run_dir: str | Path, step: int) -> dict[str, float]:
    t = cfg.train
    prompts = [p for p in t.validation_prompts for _ in t.validation_seeds]
    seeds = [s for _ in t.validation_prompts for s in t.validation_seeds]
    generator = VideoGenerator(teacher, cfg, "lcm", t.validation_steps, 0.0, cfg.sample.num_frames or cfg.data.num_frames)
    was_training = teacher.network.training
    teacher.network.eval()
    videos = generator(prompts, seeds)  # (N, F, 3, H, W) in [0, 1]
    teacher.network.train(was_training)
    out = Path(run_dir) / "validation" / f"step-{step:08d}"
    if videos.shape[2] == 3:  # pixel videos (the analytic teacher has none)
        for i, (prompt, seed) in enumerate(zip(prompts, seeds)):
            slug = "".join(c if c.isalnum() else "-" for c in prompt)[:40]
            write_video(videos[i] * 2 - 1, out / f"{i:02d}-{slug}-seed{seed}.mp4", cfg.sample.fps)
    return collapse_statistics(videos, t.black_threshold)
