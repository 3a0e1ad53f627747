"""Configuration of the image discriminator D_psi (Eq. 4-5, Appendix C.1) and its sparse-frame input."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The backbone's architecture fields live beside the backbone (shared with the world's backbone training);
# re-exported here, where the discriminator's config always offered them.
from mcm.backbone.config import TinyBackboneConfig

AUGMENT_NAMES = ("color", "translation", "cutout")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DiscriminatorConfig(_Strict):
    """Every hyperparameter of the image discriminator, its loss, penalty and optimiser.

    Defaults follow Appendix C.1, Section 4 and the authors' code (shared/method-notes.md).
    """

    # --- backbone: frozen DINOv2 -------------------------------------------------------------------------
    backbone: str = Field(
        "facebook/dinov2-small",
        description="DINOv2 weights: a local transformers folder or a hub id (ViT-S/14; the authors' torch.hub "
        "model was the with-registers variant, facebook/dinov2-with-registers-small).",
    )
    tiny_backbone: Optional[TinyBackboneConfig] = Field(
        None, description="If set, use a random-initialised tiny DINOv2 instead of loading `backbone`."
    )
    feature_blocks: tuple[int, ...] = Field(
        (2, 5, 8, 11),
        description="0-based transformer blocks whose output tokens feed one head each (Appendix C.1: 2, 5, 8, 11; "
        "transformers hidden_states indices are these plus 1).",
    )
    apply_final_norm: bool = Field(True, description="Apply DINOv2's final LayerNorm to each block's tokens.")
    attn_implementation: Optional[Literal["eager", "sdpa"]] = Field(
        None, description="Backbone attention kernel; None = sdpa, or eager when penalty='r1' (double backward)."
    )
    image_size: int = Field(224, ge=1, description="Backbone input size after resizing (224 for ViT-S/14).")
    resize_mode: Literal["area", "bilinear", "bicubic", "nearest"] = Field(
        "area", description="Interpolation of the resize to image_size (authors: area)."
    )
    random_crop_prob: float = Field(
        0.5, ge=0.0, le=1.0, description="Probability of a random image_size crop of larger inputs (authors: 0.5)."
    )

    # --- augmentation -------------------------------------------------------------------------------------
    augment_policy: tuple[str, ...] = Field(
        AUGMENT_NAMES, description="DiffAugment steps applied to real and fake alike: color, translation, cutout."
    )
    translation_ratio: float = Field(0.125, ge=0.0, lt=0.5, description="Max shift as a fraction of the side.")
    cutout_ratio: float = Field(0.2, ge=0.0, le=1.0, description="Cutout side as a fraction of the image side.")
    augment_views: int = Field(
        1, ge=1, description="Augmented views of each real and fake image in the discriminator's step (authors: "
        "1). More views average out the augmentation's noise, so a few updates find what every fake shares."
    )

    # --- heads ----------------------------------------------------------------------------------------------
    head_channels: Optional[int] = Field(
        None, ge=1, description="Width of each head; None = the backbone's token width (authors)."
    )
    head_kernel_size: int = Field(9, ge=1, description="Kernel of the residual block's 1-D conv over tokens.")
    virtual_batch_size: int = Field(8, ge=1, description="Local batch norm: samples per statistics group.")
    leaky_relu_slope: float = Field(0.2, ge=0.0, description="LeakyReLU negative slope.")
    text_embed_dim: int = Field(
        1024, ge=0, description="CLIP text embedding width (open_clip ViT-g-14: 1024); 0 = unconditional heads."
    )
    cmap_dim: int = Field(64, ge=1, description="Projection width of the text conditioning (StyleGAN-T: 64).")

    # --- loss and penalty -----------------------------------------------------------------------------------
    penalty: Literal["wgan_gp", "r1", "none"] = Field(
        "wgan_gp",
        description="Gradient penalty: wgan_gp = the authors' (||grad_feat D|| - 1)^2 at interpolates; r1 = "
        "||grad_x D(real)||^2 on real images; none.",
    )
    penalty_weight: float = Field(
        1e-5,
        ge=0.0,
        description="Initial weight of the gradient penalty (authors' wgan_gp: 1e-5; for r1 this is "
        "gamma / 2 of the usual R1 formulation, pick it accordingly).",
    )
    gp_interpolation: Literal["pixels", "features"] = Field(
        "pixels",
        description="wgan_gp interpolates: 'pixels' = preprocessed real/fake images then DINO features (the "
        "authors' code, one extra no-grad backbone pass); 'features' = the DINO features directly.",
    )
    penalty_growth: float = Field(5.0, ge=1.0, description="Factor applied to the penalty weight when it grows.")
    penalty_growth_threshold: float = Field(
        100.0, gt=0.0, description="The weight grows when the penalty reaches this value (authors: 100)."
    )
    penalty_growth_interval: int = Field(
        500, ge=0, description="Minimum steps between two growths of the penalty weight (authors: 500)."
    )

    # --- optimiser (its own) --------------------------------------------------------------------------------
    lr: float = Field(5e-5, gt=0.0, description="Discriminator learning rate (Section 4: 5e-5).")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas of the discriminator.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay (authors: 0).")
    eps: float = Field(1e-8, gt=0.0, description="AdamW epsilon.")
    lr_schedule: Literal["student", "constant"] = Field(
        "student", description="'student': the student's schedule (optim.lr_scheduler, warmup_steps, max_steps) "
        "scales D's lr too, as the authors build both schedulers with the same arguments; 'constant': no schedule."
    )

    # --- sparse frames (Section 3.1) ------------------------------------------------------------------------
    sparse_frames: int = Field(2, ge=1, description="l: frames per video decoded for the adversarial loss.")
    frame_sampling: Literal["random", "segment"] = Field(
        "random", description="random = l distinct frames per video; segment = one per equal segment (TSN)."
    )

    @field_validator("feature_blocks")
    @classmethod
    def _blocks(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("discriminator.feature_blocks must name at least one block")
        if any(b < 0 for b in v) or len(set(v)) != len(v):
            raise ValueError(f"discriminator.feature_blocks={v} must be distinct non-negative block indices")
        return tuple(sorted(v))

    @field_validator("augment_policy")
    @classmethod
    def _policy(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in v if p not in AUGMENT_NAMES]
        if bad:
            raise ValueError(f"discriminator.augment_policy has unknown steps {bad}; choose from {AUGMENT_NAMES}")
        return v

    @field_validator("betas")
    @classmethod
    def _betas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError(f"discriminator.betas={v} must lie in [0, 1)")
        return v

    @model_validator(mode="after")
    def _r1_needs_eager(self) -> "DiscriminatorConfig":
        if self.penalty == "r1" and self.attn_implementation == "sdpa":
            raise ValueError(
                "discriminator.attn_implementation='sdpa' cannot double-backward for discriminator.penalty='r1'; "
                "use 'eager' or None"
            )
        return self

    def resolved_attn_implementation(self) -> str:
        """The backbone attention kernel actually used."""
        if self.attn_implementation is not None:
            return self.attn_implementation
        return "eager" if self.penalty == "r1" else "sdpa"
