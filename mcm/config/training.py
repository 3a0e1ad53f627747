"""Typed configuration of the training run itself (no library component owns it): the two-stage baseline, the
optimiser and global batch, run mechanics (precision, checkpoints, validation, metrics)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from mcm.config.base import StrictConfig


class TwoStageConfig(StrictConfig):
    """The two-stage baseline of Section 4.2 (AnimateLCM [61]), for Table 3.

    * ``spatial``: consistency distillation (Eq. 3, M = raw) of the spatial LoRA layers on images of M as
      1-frame clips; temporal LoRA layers frozen.
    * ``temporal``: consistency distillation (Eq. 3) of the temporal LoRA layers on V, the spatial LoRA
      layers loaded from ``init_from`` (the spatial stage's run folder) and frozen.
    ``off`` trains every LoRA layer at once (LCM / MCM).
    """

    stage: Literal["off", "spatial", "temporal"] = Field("off", description="Which stage this run is.")
    init_from: Optional[str] = Field(None, description="Run folder of the spatial stage (stage=temporal).")
    temporal_pattern: str = Field(
        r".*(temp_attentions|temp_convs|transformer_in|motion_modules|temporal).*",
        description="Regex (re.fullmatch) over parameter names marking temporal layers (ModelScope's "
        "transformer_in is the temporal transformer at the UNet's input).",
    )

    @model_validator(mode="after")
    def _init_given(self):
        if self.stage == "temporal" and not self.init_from:
            raise ValueError("two_stage.init_from is required when two_stage.stage='temporal'")
        return self


class OptimConfig(StrictConfig):
    """AdamW with weight decay 0 and a cosine schedule with warm-up (notes: the authors' settings)."""

    lr: float = Field(5e-6, gt=0, description="Student learning rate (Section 4: 5e-6).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay (torch's default 0.01 is wrong here).")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon.")
    grad_clip: float = Field(10.0, gt=0, description="Max gradient norm.")
    lr_scheduler: Literal["cosine", "constant"] = Field("cosine", description="LR schedule after warm-up.")
    warmup_steps: int = Field(500, ge=0, description="Linear warm-up updates.")
    max_steps: int = Field(30000, ge=1, description="Optimiser updates (Section 4: 30k).")
    global_batch: int = Field(
        128, ge=1,
        description="Clips per optimiser update over all ranks (Section 4: 128); the gradient accumulation "
        "follows as global_batch / (world size x data.batch_size).",
    )


def gradient_accumulation_steps(global_batch: int, world_size: int, batch_size: int) -> int:
    """Micro-batches per optimiser update: ``optim.global_batch / (world size x data.batch_size)``.

    A global batch that the ranks' micro-batches do not divide is an error naming the three numbers (the paper's
    128 is reached, e.g., on 4 nodes x 8 GPUs with batch 4 (ModelScope) or 1 and 4 accumulation steps
    (AnimateDiff))."""
    per_micro = world_size * batch_size
    if world_size < 1 or batch_size < 1 or global_batch % per_micro:
        raise ValueError(
            f"optim.global_batch={global_batch} is not a multiple of world size {world_size} x "
            f"data.batch_size={batch_size} = {per_micro}: choose a global batch, batch size or number of ranks "
            "that divide"
        )
    return global_batch // per_micro


class TrainConfig(StrictConfig):
    """Run mechanics: precision, checkpoints, validation, metrics, preemption."""

    seed: int = Field(0, description="Seed of every random draw (data order, t, noise, w).")
    mixed_precision: Literal["no", "fp16", "bf16"] = Field("no", description="Autocast dtype (VAE stays fp32).")
    gradient_checkpointing: bool = Field(False, description="Recompute UNet activations in backward.")
    checkpoint_every: int = Field(500, ge=1, description="Save a checkpoint every N updates.")
    keep_last: int = Field(3, ge=1, description="Keep the last K checkpoints.")
    log_every: int = Field(10, ge=1, description="Log metrics every N updates.")
    validate_every: int = Field(1000, ge=0, description="Validation videos every N updates (0: never).")
    validation_prompts: list[str] = Field(
        default_factory=lambda: ["a red ball bouncing on a wooden floor", "waves crashing on a rocky beach"],
        description="Fixed validation prompts.",
    )
    validation_seeds: list[int] = Field(default_factory=lambda: [0], description="Seeds per validation prompt.")
    validation_steps: int = Field(4, ge=1, le=8, description="Student sampling steps for validation videos.")
    black_threshold: float = Field(
        0.05, ge=0, le=1, description="A video whose mean brightness in [0, 1] is below this counts as near-black."
    )
    pushgateway_url: Optional[str] = Field(None, description="Prometheus Pushgateway; None writes a textfile.")
    sigterm_grace_s: float = Field(
        30.0, gt=0, description="Seconds between SIGTERM and the kill (the pod's terminationGracePeriodSeconds)."
    )
    save_merged: bool = Field(False, description="Also write a merged diffusers-format student at the end.")
