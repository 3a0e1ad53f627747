"""Configuration of the motion representation M(.) of the MCD loss (Eq. 6, Section 3.2, Table 5)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MOTION_NAMES = ("raw", "diff", "corr", "lowfreq", "highfreq", "learnable")


class MotionConfig(BaseModel):
    """Which M(.) the MCD loss compares, and its hyperparameters.

    ``raw`` is the LCM baseline (M = identity, Eq. 3); the others are the rows of Table 5. ``learnable``
    (the paper's choice) is the per-frame head of Fig. 4 with an EMA target copy.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: Literal["raw", "diff", "corr", "lowfreq", "highfreq", "learnable"] = Field(
        "learnable", description="Motion representation M(.): raw (LCM), diff, corr, lowfreq, highfreq, learnable."
    )
    ema_decay: float = Field(
        0.95, ge=0.0, le=1.0, description="EMA decay of the learnable head's target copy (authors: 0.95)."
    )
    hidden_channels: int = Field(64, ge=1, description="Hidden width of the learnable head (Fig. 4: 64).")
    norm_groups: int = Field(32, ge=1, description="GroupNorm groups inside the learnable head (32).")
    norm_eps: float = Field(1e-5, gt=0.0, description="GroupNorm epsilon of the learnable head.")
    corr_radius: int = Field(7, ge=0, description="Search radius r of the local cost volume ((2r+1)^2 displacements).")
    corr_mode: Literal["local", "global"] = Field(
        "local", description="Cost volume between consecutive frames: local (radius r) or global (all pairs)."
    )
    corr_normalisation: Literal["scaled_dot", "cosine"] = Field(
        "scaled_dot",
        description="corr values: pairwise dot products / sqrt(C) (paper, authors) or cosine similarity "
        "(blind to the latents' magnitude).",
    )
    corr_eps: float = Field(1e-6, gt=0.0, description="Epsilon of the L2 normalisation of corr_normalisation=cosine.")
    fft_cutoff: float = Field(
        0.25, gt=0.0, description="Butterworth cut-off D0 as a fraction of the Nyquist frequency (radius in [0, sqrt(3)])."
    )
    butterworth_order: int = Field(4, ge=1, description="Butterworth filter order n.")

    @model_validator(mode="after")
    def _groups_divide_hidden(self) -> "MotionConfig":
        if self.hidden_channels % self.norm_groups != 0:
            raise ValueError(
                f"motion.norm_groups={self.norm_groups} must divide motion.hidden_channels={self.hidden_channels}"
            )
        return self
