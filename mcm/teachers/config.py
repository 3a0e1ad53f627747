"""Typed configuration of the teacher (Section 2, Appendix C.2) and of the random tiny teachers."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from mcm.config.base import StrictConfig


TEACHER_KINDS = ("modelscope", "animatediff", "tiny_modelscope", "tiny_animatediff", "gaussian_mixture")


class TinyUNetConfig(StrictConfig):
    """Architecture of the random-initialised ``tiny_*`` teachers (tests, CPU debugging, presets tiny/small)."""

    block_out_channels: tuple[int, ...] = Field((8, 16), description="UNet channels per resolution level.")
    layers_per_block: int = Field(1, ge=1, description="ResNet layers per UNet block.")
    norm_num_groups: int = Field(4, ge=1, description="GroupNorm groups in the UNet.")
    attention_head_dim: int = Field(4, ge=1, description="Attention head dimension.")
    cross_attention_dim: int = Field(16, ge=1, description="Text embedding width (the tiny CLIP's hidden size).")
    text_layers: int = Field(2, ge=1, description="Layers of the tiny CLIP text encoder.")
    vae_block_out_channels: tuple[int, ...] = Field((8, 16), description="VAE channels; downsampling 2^(len-1).")
    latent_channels: int = Field(4, ge=1, description="VAE latent channels.")
    motion_max_seq_length: int = Field(32, ge=1, description="AnimateDiff motion module max frames.")
    seed: int = Field(0, description="Seed of the random initialisation (same seed, same teacher).")


class TeacherConfig(StrictConfig):
    """The teacher diffusion model phi and its noise schedule (Section 2, Appendix C.2)."""

    kind: str = Field("modelscope", description=f"Teacher architecture: one of {TEACHER_KINDS}.")
    path: Optional[str] = Field(
        None, description="Local diffusers-format folder or hub id (modelscope: the pipeline; animatediff: SD1.5)."
    )
    motion_adapter_path: Optional[str] = Field(None, description="AnimateDiff MotionAdapter folder or hub id.")
    num_train_timesteps: int = Field(1000, ge=2, description="Training timesteps T of the teacher.")
    beta_schedule: Optional[Literal["linear", "scaled_linear"]] = Field(
        None, description="Beta schedule; None keeps the teacher's own (AnimateDiff: linear, as the paper)."
    )
    beta_start: float = Field(0.00085, gt=0, description="First beta.")
    beta_end: float = Field(0.012, gt=0, description="Last beta.")
    prediction_type: Literal["epsilon"] = Field("epsilon", description="Teachers use epsilon prediction.")
    guidance_min: float = Field(5.0, ge=0, description="w_min of the guidance range (ModelScope [5, 15]).")
    guidance_max: float = Field(15.0, ge=0, description="w_max of the guidance range.")
    tiny: TinyUNetConfig = Field(default_factory=TinyUNetConfig, description="Architecture of tiny teachers.")
    gmm_dim: int = Field(2, ge=1, description="Data dimension of the analytic Gaussian-mixture teacher.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in TEACHER_KINDS:
            raise ValueError(f"teacher.kind={v!r} is not a known teacher; choose one of {TEACHER_KINDS}")
        return v

    @model_validator(mode="after")
    def _guidance_range(self):
        if self.guidance_max < self.guidance_min:
            raise ValueError(
                f"teacher.guidance_max={self.guidance_max} is below teacher.guidance_min={self.guidance_min}"
            )
        return self
