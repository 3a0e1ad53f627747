"""ModelScopeT2V teacher: UNet3DConditionModel + AutoencoderKL + CLIP text encoder + its DDIM schedule."""

from __future__ import annotations

from typing import Any

from mcm.teachers.config import TeacherConfig
from mcm.teachers.base import Teacher
from mcm.teachers.targets import UNET_LORA_TARGETS


def schedule_from_scheduler_config(sched: dict[str, Any], cfg: TeacherConfig) -> dict[str, Any]:
    """The betas a teacher was trained with, unless the config overrides the schedule."""
    return {
        "num_train_timesteps": int(sched.get("num_train_timesteps", cfg.num_train_timesteps)),
        "beta_start": float(sched.get("beta_start", cfg.beta_start)),
        "beta_end": float(sched.get("beta_end", cfg.beta_end)),
        "beta_schedule": cfg.beta_schedule or sched.get("beta_schedule", "scaled_linear"),
    }


def load_text_stack(path: str) -> tuple[Any, Any, Any]:
    """(tokenizer, text_encoder, vae) from a diffusers-format folder or hub id."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(path, subfolder="text_encoder")
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae")
    return tokenizer, text_encoder, vae


def freeze(*modules: Any) -> None:
    for m in modules:
        if m is not None:
            m.requires_grad_(False)
            m.eval()


def load_modelscope(cfg: TeacherConfig) -> Teacher:
    """Load ModelScopeT2V from ``cfg.path`` (a local diffusers pipeline folder or a hub id)."""
    from diffusers import DDIMScheduler, UNet3DConditionModel

    if not cfg.path:
        raise ValueError("teacher.path is required for teacher.kind='modelscope' (folder or hub id)")
    unet = UNet3DConditionModel.from_pretrained(cfg.path, subfolder="unet")
    tokenizer, text_encoder, vae = load_text_stack(cfg.path)
    sched = DDIMScheduler.load_config(cfg.path, subfolder="scheduler")
    freeze(unet, text_encoder, vae)
    return Teacher(
        name="modelscope",
        network=unet,
        schedule=schedule_from_scheduler_config(sched, cfg),
        lora_targets=UNET_LORA_TARGETS,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        vae=vae,
        latent_channels=unet.config.in_channels,
        vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1),
        text_max_length=tokenizer.model_max_length,
    )
