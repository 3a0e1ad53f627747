"""One entry point for generating videos: the student at N steps, or the teacher with DDIM / DPM++.

``build_video_generator(...)`` returns a callable ``(prompts, seeds) -> videos (N, F, 3, H, W) in [0, 1]``,
used by ``mcm sample`` and by the evaluation. Every video's initial noise comes from its own seed, so a
prompt/seed pair gives the same video whatever the batch it is generated in.

``lora=False`` with a checkpoint gives the *untrained student*: the same network with its LoRA switched off
(the teacher's weights), sampled with the student's LCM scheduler and settings: what distillation starts from,
the baseline that says what the distillation itself added.

``guidance`` (and ``mcm sample --guidance``) is the *standard* classifier-free guidance scale g of the teacher
baselines, ``uncond + g (cond - uncond)``, as diffusers' pipelines take it. The teacher's configured range
``teacher.guidance_min/max`` is in the LCM form w of the distillation, ``cond + w (cond - uncond)``; g = w + 1
(see ``mcm.distill.guidance``). The default is the mid of that range converted: ``(w_min + w_max) / 2 + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from mcm.config.load import load_config
from mcm.config.schema import MCMConfig
from mcm.distill.guidance import lcm_w_to_cfg_scale
from mcm.sampler.baselines import SCHEDULERS, sample_teacher_latents
from mcm.sampler.lcm import sample_student_latents
from mcm.sampler.student import load_student
from mcm.student.lora import set_adapters_enabled
from mcm.teachers.base import Teacher
from mcm.teachers.registry import load_teacher


@dataclass
class VideoGenerator:
    teacher: Teacher
    cfg: MCMConfig
    scheduler: str  # "lcm" (student) or a teacher baseline
    steps: int
    guidance: float  # standard CFG scale g of the teacher baselines (unused by the student)
    num_frames: int

    def latent_shape(self) -> tuple[int, ...]:
        d, f = self.cfg.data, self.teacher.vae_scale_factor
        if self.teacher.vae is None:
            return (self.teacher.latent_channels, self.num_frames, 1, 1)
        return (self.teacher.latent_channels, self.num_frames, d.height // f, d.width // f)

    def noise(self, seeds: list[int]) -> tuple[torch.Tensor, list[torch.Generator]]:
        """Initial noise and one generator per video (later draws, e.g. LCM's re-noising, continue it)."""
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        return torch.stack([torch.randn(self.latent_shape(), generator=g) for g in generators]), generators

    @torch.inference_mode()
    def latents(self, prompts: list[str], seeds: list[int]) -> torch.Tensor:
        if len(prompts) != len(seeds):
            raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
        text = self.teacher.encode_text(prompts)
        z, g = self.noise(seeds)
        if self.scheduler == "lcm":
            return sample_student_latents(self.teacher, self.cfg.distill, text, z.shape[1:], self.steps, g, z)
        uncond = self.teacher.encode_text([""] * len(prompts))
        return sample_teacher_latents(
            self.teacher, self.scheduler, text, uncond, z.shape[1:], self.steps, self.guidance, g, z
        )

    @torch.inference_mode()
    def __call__(self, prompts: list[str], seeds: list[int]) -> torch.Tensor:
        """Videos (N, F, 3, H, W) in [0, 1]."""
        pixels = self.teacher.decode_latents(self.latents(prompts, seeds))
        return (pixels.float() + 1) / 2


def default_cfg_scale(cfg: MCMConfig) -> float:
    """Standard CFG scale g of the teacher baselines that matches the distillation's mean LCM-form w:
    ``g = (teacher.guidance_min + teacher.guidance_max) / 2 + 1``."""
    return lcm_w_to_cfg_scale((cfg.teacher.guidance_min + cfg.teacher.guidance_max) / 2)


def build_video_generator(
    checkpoint: Optional[str] = None,
    teacher: Optional[str] = None,
    scheduler: str = "lcm",
    steps: int = 4,
    guidance: Optional[float] = None,
    num_frames: Optional[int] = None,
    device: str = "cpu",
    overrides: tuple[str, ...] = (),
    lora: bool = True,
) -> VideoGenerator:
    """Student from ``checkpoint`` (run or exported folder) with scheduler 'lcm', or the teacher of a preset /
    YAML ``teacher`` with scheduler 'ddim' or 'dpm++' and standard CFG scale ``guidance`` = g in
    ``uncond + g (cond - uncond)`` (default: :func:`default_cfg_scale`, the mid of the teacher's LCM-form range
    plus one). ``lora=False`` (checkpoints only): the untrained student, its LoRA switched off."""
    if (checkpoint is None) == (teacher is None):
        raise ValueError("give exactly one of --checkpoint (a student) or --teacher (a baseline)")
    if checkpoint is not None:
        if scheduler != "lcm":
            raise ValueError(f"scheduler={scheduler!r}: a student samples with 'lcm'")
        model, cfg = load_student(checkpoint)
        if not lora:
            set_adapters_enabled(model.network, False)
    else:
        if not lora:
            raise ValueError("lora=False needs a --checkpoint: it switches a student's LoRA off")
        if scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={scheduler!r}: a teacher baseline uses one of {SCHEDULERS}")
        cfg = load_config(teacher, overrides)
        model = load_teacher(cfg.teacher)
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1")
    if guidance is None:
        guidance = default_cfg_scale(cfg)
    frames = num_frames or cfg.sample.num_frames or cfg.data.num_frames
    return VideoGenerator(model.to(device), cfg, scheduler, steps, guidance, frames)
