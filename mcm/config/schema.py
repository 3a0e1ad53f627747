"""Typed configuration of a distillation run.

Every hyperparameter of the paper is a named field with the paper's default (Section 4, Appendix C.2,
and ``shared/method-notes.md`` for what the authors' code does). Presets in ``presets/*.yaml`` are small
diffs on these defaults; ``mcm.config.load`` resolves a preset, a YAML file and ``--set key=value``
overrides into one :class:`MCMConfig`.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mcm.discriminator.config import DiscriminatorConfig
from mcm.motion.config import MotionConfig

TEACHER_KINDS = ("modelscope", "animatediff", "tiny_modelscope", "tiny_animatediff", "gaussian_mixture")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TinyUNetConfig(_Strict):
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


class TeacherConfig(_Strict):
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


class StudentConfig(_Strict):
    """The LoRA student theta on the teacher's own UNet (Section 4: rank 64)."""

    lora_rank: int = Field(64, ge=1, description="LoRA rank r.")
    lora_alpha: float = Field(64.0, gt=0, description="LoRA alpha (scale alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: Optional[str] = Field(
        None,
        description="Regex over module names to adapt; None uses the teacher's default targets "
        "(attention q/k/v/out incl. temporal, proj_in/out, feed-forward, ResNet convs, samplers, time embedding).",
    )


class DistillConfig(_Strict):
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


class DataConfig(_Strict):
    """The video-caption dataset V (see ``mcm.data.base`` for the item contract)."""

    source: Literal["synthetic", "csv", "shards"] = Field("synthetic", description="Where clips come from.")
    path: Optional[str] = Field(None, description="CSV file (source=csv) or shard pattern/folder (source=shards).")
    root: Optional[str] = Field(None, description="Root that relative video paths in the CSV resolve against.")
    num_frames: int = Field(16, ge=1, description="Frames per clip (Section 4: 16).")
    height: int = Field(256, ge=8, description="Clip height in pixels (ModelScope 256, AnimateDiff 512).")
    width: int = Field(256, ge=8, description="Clip width in pixels.")
    frame_stride: Optional[int] = Field(None, ge=1, description="Frame stride; None normalises by frame rate.")
    synthetic_size: int = Field(64, ge=1, description="Number of generated clips (source=synthetic).")
    shuffle_buffer: int = Field(1000, ge=0, description="Shuffle buffer of the shard stream (source=shards).")
    batch_size: int = Field(1, ge=1, description="Micro-batch per rank.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    cache_text_embeddings: bool = Field(True, description="Cache caption embeddings across steps (on the CPU).")
    text_cache_mb: float = Field(
        256.0, ge=0, description="Bound of the caption-embedding cache in MiB of CPU memory (LRU beyond it)."
    )

    @model_validator(mode="after")
    def _path_given(self):
        if self.source in ("csv", "shards") and not self.path:
            raise ValueError(f"data.path is required when data.source={self.source!r}")
        return self


class ImageDataConfig(_Strict):
    """The image dataset M: the discriminator's real data (Section 3.1) and the image captions of Eq. 7-9.

    ``none`` uses the frames of the video set V (the paper's plain-distillation setting). Each rank reads
    ``data.batch_size x discriminator.sparse_frames`` images per micro-batch (one per fake frame).
    """

    source: Literal["none", "synthetic", "shards", "csv"] = Field(
        "none", description="none = frames of V; synthetic = generated frames; shards = `mcm data images` output; "
        "csv = a CSV of image paths and captions."
    )
    path: Optional[str] = Field(None, description="Shard folder/pattern (source=shards) or CSV file (source=csv).")
    root: Optional[str] = Field(None, description="Root that relative image paths in the CSV resolve against.")
    path_column: str = Field("path", description="CSV column with the image path.")
    caption_column: str = Field("caption", description="CSV column with the caption.")
    height: Optional[int] = Field(None, ge=8, description="Image height; None = data.height.")
    width: Optional[int] = Field(None, ge=8, description="Image width; None = data.width.")
    synthetic_size: int = Field(64, ge=1, description="Number of generated images (source=synthetic).")
    shuffle_buffer: int = Field(1000, ge=0, description="Shuffle buffer of the shard stream (source=shards).")

    @model_validator(mode="after")
    def _path_given(self):
        if self.source in ("csv", "shards") and not self.path:
            raise ValueError(f"images.path is required when images.source={self.source!r}")
        return self


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


class MixedTrajectoryConfig(_Strict):
    """Mixed trajectory distillation (Eq. 7-9); its share of real trajectories is ``distill.lambda_real``."""

    captions: Literal["image", "video"] = Field(
        "image",
        description="Captions that condition the generated branch (one-step sample and all its losses): the image "
        "set's (authors; with images.source=none these are V's) or the video batch's.",
    )


class TwoStageConfig(_Strict):
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


class OptimConfig(_Strict):
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


class TrainConfig(_Strict):
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


class SampleConfig(_Strict):
    """Few-step sampling of the student (LCMScheduler, 1-8 steps)."""

    steps: int = Field(4, ge=1, le=8, description="Student sampling steps.")
    num_frames: Optional[int] = Field(None, ge=1, description="Frames to generate; None uses data.num_frames.")
    fps: int = Field(8, ge=1, description="Frames per second of written videos.")


class MCMConfig(_Strict):
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
