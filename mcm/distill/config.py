"""Typed configuration of consistency distillation (Eq. 1-3) and the MCM loss weights (Eq. 9)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from mcm.config.base import StrictConfig


class DistillConfig(StrictConfig):
    """Consistency distillation (Eq. 1-3) and the MCM loss weights (Eq. 9)."""

    num_ddim_timesteps: int = Field(50, ge=1, description="DDIM solver skip grid size N (Section 4: 50).")
    timestep_scaling: float = Field(
        4.0, gt=0, description="s in c_skip/c_out(s t); authors' scripts 4, diffusers LCMScheduler default 10."
    )
    sigma_data: float = Field(0.5, gt=0, description="sigma_data of the boundary scalings (Eq. 1).")
    distance: Literal["pseudo_huber", "pseudo_huber_norm", "l2"] = Field(
        "pseudo_huber",
        description="d(.,.) of Eq. 3: elementwise pseudo-Huber (authors, default), on the sample L2 norm (paper), or L2.",
    )
    huber_c: float = Field(0.001, gt=0, description="delta of the pseudo-Huber distance.")
    pure_noise_at_top: bool = Field(True, description="Replace x_t by pure noise at the top grid index (authors).")
    lambda_adv: float = Field(1.0, ge=0, description="Weight of the adversarial loss (Section 4: 1).")
    lambda_real: float = Field(0.5, description="Share of real-video trajectories in Eq. 9 (Section 4: 0.5).")

    @field_validator("lambda_real")
    @classmethod
    def _unit(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"distill.lambda_real={v} must lie in [0, 1]")
        return v
