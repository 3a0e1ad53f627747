"""Typed configuration of the LoRA student (Section 4: rank 64)."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from mcm.config.base import StrictConfig


class StudentConfig(StrictConfig):
    """The LoRA student theta on the teacher's own UNet (Section 4: rank 64)."""

    lora_rank: int = Field(64, ge=1, description="LoRA rank r.")
    lora_alpha: float = Field(64.0, gt=0, description="LoRA alpha (scale alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: Optional[str] = Field(
        None,
        description="Regex over module names to adapt; None uses the teacher's default targets "
        "(attention q/k/v/out incl. temporal, proj_in/out, feed-forward, ResNet convs, samplers, time embedding).",
    )
