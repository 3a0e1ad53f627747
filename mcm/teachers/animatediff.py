"""AnimateDiff teacher: an SD1.5 UNet2DConditionModel + MotionAdapter as a UNetMotionModel, linear betas."""

from __future__ import annotations

from mcm.teachers.config import TeacherConfig
from mcm.teachers.base import Teacher
from mcm.teachers.modelscope import freeze, load_text_stack, schedule_from_scheduler_config
from mcm.teachers.targets import UNET_LORA_TARGETS
from mcm.utils.weights import weights_from

# Appendix C.2: AnimateDiff uses a linear beta schedule (following AnimateDiff-Lightning).
ANIMATEDIFF_BETA_SCHEDULE = "linear"


def load_animatediff(cfg: TeacherConfig) -> Teacher:
    """SD1.5 folder/hub id in ``cfg.path`` plus a MotionAdapter in ``cfg.motion_adapter_path``."""
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    if not cfg.path or not cfg.motion_adapter_path:
        raise ValueError(
            "teacher.path (SD1.5) and teacher.motion_adapter_path are both required for teacher.kind='animatediff'"
        )
    unet2d = UNet2DConditionModel.from_pretrained(cfg.path, subfolder="unet")
    with weights_from("teacher.motion_adapter_path", cfg.motion_adapter_path):
        adapter = MotionAdapter.from_pretrained(cfg.motion_adapter_path)
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    tokenizer, text_encoder, vae = load_text_stack(cfg.path)
    freeze(unet, text_encoder, vae)
    schedule = schedule_from_scheduler_config({}, cfg)
    schedule["beta_schedule"] = cfg.beta_schedule or ANIMATEDIFF_BETA_SCHEDULE
    return Teacher(
        name="animatediff",
        network=unet,
        schedule=schedule,
        lora_targets=UNET_LORA_TARGETS,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        vae=vae,
        repeat_text_per_frame=True,
        latent_channels=unet.config.in_channels,
        vae_scale_factor=2 ** (len(vae.config.block_out_channels) - 1),
        text_max_length=tokenizer.model_max_length,
        components={"motion_adapter": adapter},
    )
