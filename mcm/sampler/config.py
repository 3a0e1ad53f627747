"""Typed configuration of few-step sampling."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from mcm.config.base import StrictConfig


class SampleConfig(StrictConfig):
    """Few-step sampling of the student (LCMScheduler, 1-8 steps)."""

    steps: int = Field(4, ge=1, le=8, description="Student sampling steps.")
    num_frames: Optional[int] = Field(None, ge=1, description="Frames to generate; None uses data.num_frames.")
    fps: int = Field(8, ge=1, description="Frames per second of written videos.")
