"""Typed configuration of a distillation run.

Every hyperparameter of the paper is a named field with the paper's default (Section 4, Appendix C.2,
and ``shared/method-notes.md`` for what the authors' code does). Presets in ``presets/*.yaml`` are small
diffs on these defaults; ``mcm.config.load`` resolves a preset, a YAML file and ``--set key=value``
overrides into one :class:`MCMConfig`.

Each component owns its section's typed config (``mcm.teachers.config``, ``mcm.student.config``,
``mcm.distill.config``, ``mcm.motion.config``, ``mcm.discriminator.config``, ``mcm.trajectories.config``,
``mcm.data.config``, ``mcm.sampler.config``; the run-level sections in ``mcm.config.training``); this module
composes them into the run's config, keeps the checks that span sections, and re-exports the section classes.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from mcm.config.base import StrictConfig
from mcm.data.config import DataConfig, ImageDataConfig
from mcm.discriminator.config import DiscriminatorConfig
from mcm.distill.config import DistillConfig
from mcm.motion.config import MotionConfig
from mcm.sampler.config import SampleConfig
from mcm.student.config import StudentConfig
from mcm.teachers.config import TEACHER_KINDS, TeacherConfig, TinyUNetConfig
from mcm.config.training import OptimConfig, TrainConfig, TwoStageConfig, gradient_accumulation_steps
from mcm.trajectories.config import MixedTrajectoryConfig

__all__ = [
    "AdversarialConfig", "DataConfig", "DistillConfig", "ImageDataConfig", "MCMConfig", "MixedTrajectoryConfig",
    "MotionConfig", "OptimConfig", "SampleConfig", "StudentConfig", "TEACHER_KINDS", "TeacherConfig",
    "TinyUNetConfig", "TrainConfig", "TwoStageConfig", "gradient_accumulation_steps",
]


class AdversarialConfig(DiscriminatorConfig):
    """The discriminator section: :class:`mcm.discriminator.DiscriminatorConfig` plus the run switches.

    ``enabled: false`` is the LCM baseline (no adversarial loss, Table 4 row 1). The discriminator's text
    condition c is a CLIP text embedding (N, text_embed_dim): ``text_encoder: teacher`` uses the pooled output
    of the teacher's own CLIP text encoder (ModelScope: OpenCLIP ViT-H, 1024; SD1.5: 768); a local folder or
    hub id loads a transformers ``CLIPTextModelWithProjection`` (the authors: open_clip ViT-g-14, 1024).
    """

    enabled: bool = Field(True, description="Train with the image discriminator (MCM); false = LCM baseline.")
    text_encoder: str = Field(
        "teacher", description="Text embedding of the heads: 'teacher' (pooled teacher CLIP) or a CLIP folder/hub id."
    )


class MCMConfig(StrictConfig):
    """The whole run."""

    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig, description="M(.) of the MCD loss (Eq. 6).")
    discriminator: AdversarialConfig = Field(default_factory=AdversarialConfig, description="D_psi (Eq. 4-5).")
    images: ImageDataConfig = Field(default_factory=ImageDataConfig, description="The image dataset M.")
    mixed: MixedTrajectoryConfig = Field(default_factory=MixedTrajectoryConfig, description="Eq. 7-9.")
    two_stage: TwoStageConfig = Field(default_factory=TwoStageConfig, description="Section 4.2 baseline.")

    @model_validator(mode="after")
    def _combinations(self):
        if self.teacher.kind == "gaussian_mixture" and self.discriminator.enabled:
            raise ValueError("discriminator.enabled=true needs a teacher with a VAE; teacher.kind='gaussian_mixture' has none")
        if self.discriminator.enabled and self.discriminator.sparse_frames > self.data.num_frames:
            raise ValueError(
                f"discriminator.sparse_frames={self.discriminator.sparse_frames} exceeds data.num_frames={self.data.num_frames}"
            )
        if self.two_stage.stage == "spatial" and self.images.source == "none":
            raise ValueError("two_stage.stage='spatial' trains on the image set: set images.source")
        if self.two_stage.stage != "off" and (self.discriminator.enabled or self.motion.name != "raw"):
            raise ValueError("two_stage.stage is an LCM baseline: set discriminator.enabled=false and motion.name=raw")
        return self
