"""Typed configuration of mixed trajectory distillation (Eq. 7-9)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcm.config.base import StrictConfig


class MixedTrajectoryConfig(StrictConfig):
    """Mixed trajectory distillation (Eq. 7-9); its share of real trajectories is ``distill.lambda_real``."""

    captions: Literal["image", "video"] = Field(
        "image",
        description="Captions that condition the generated branch (one-step sample and all its losses): the image "
        "set's (authors; with images.source=none these are V's) or the video batch's.",
    )
