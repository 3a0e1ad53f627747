"""Typed configuration of ``mcm eval``: prompt set, method specs, metric protocols (paper section 4).

``protocol`` picks the metric family: "real" (I3D FVD, CLIPSIM, Inception FID, motion FD; sections ``fvd``,
``clipsim``, ``fid``, ``motion``) or "toy" (the small world's metrics from its own frozen evaluation
networks; section ``toy``, see mcm.eval.toy). Every protocol choice that changes a number (resize mode, clip
sampling, counts, preprocessing, thresholds) is a named field here, and the resolved configuration is written
into ``metrics.json`` and the HTML report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ClipSampling = Literal["first", "center", "uniform"]


class MethodSpec(BaseModel):
    """One row-and-column cell of the paper's tables: a sampler (row ``method``) at ``steps`` (column)."""

    model_config = ConfigDict(extra="forbid")
    method: str = Field("MCM (ours)", description="Row label in the tables (e.g. 'DDIM', 'DPM++', 'MCM (ours)').")
    steps: int = Field(4, ge=1, description="Sampling steps: the column of Table 1 (1, 2, 4, 8).")
    generator: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the generator factory besides steps and device "
        "(mcm.sampler.api.build_video_generator: checkpoint, teacher, scheduler, guidance, num_frames).",
    )

    @field_validator("generator")
    @classmethod
    def _no_reserved(cls, v: dict[str, Any]) -> dict[str, Any]:
        reserved = {"steps", "device"} & set(v)
        if reserved:
            raise ValueError(f"generator must not set {sorted(reserved)}: use MethodSpec.steps and EvalConfig.device")
        return v

    @property
    def key(self) -> str:
        return f"{self.method}@{self.steps}"


class PromptSetConfig(BaseModel):
    """Where prompts (and optionally reference videos) come from (paper section 4.1 protocol)."""

    model_config = ConfigDict(extra="forbid")
    path: Path = Field(..., description="CSV of prompts, or an MSRVTT annotation JSON (format='msrvtt_json').")
    format: Literal["csv", "msrvtt_json"] = Field("csv", description="File format of `path`.")
    caption_column: str = Field("caption", description="CSV column holding the prompt.")
    video_column: Optional[str] = Field("video", description="CSV column with a reference video path (optional).")
    video_root: Optional[Path] = Field(
        None, description="Folder that relative video paths (and MSRVTT '<video_id>.mp4') resolve against."
    )
    caption_rule: Literal["first", "random"] = Field(
        "first",
        description="MSRVTT has ~20 captions per video: 'first' takes the lowest sen_id, 'random' draws one "
        "per video with `caption_seed`.",
    )
    caption_seed: int = Field(0, description="Seed of caption_rule='random'.")
    split: Optional[str] = Field("test", description="MSRVTT split to keep (videos[].split); None keeps all.")
    limit: Optional[int] = Field(None, ge=1, description="Keep only the first `limit` prompts (None: all).")


class FVDConfig(BaseModel):
    """FVD protocol: I3D Kinetics-400 logits of 16-frame clips at 224, values in [-1, 1]."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Compute FVD.")
    weights: Optional[Path] = Field(None, description="InceptionI3d safetensors (from `mcm convert i3d`).")
    torchscript: Optional[Path] = Field(
        None, description="StyleGAN-V i3d_torchscript.pt, run as is; used only when given (overrides weights)."
    )
    num_frames: int = Field(16, ge=1, description="Frames per clip.")
    resolution: int = Field(224, ge=8, description="Square side the clip is resized to.")
    resize_mode: Literal["short_side_crop", "squash"] = Field(
        "short_side_crop",
        description="'short_side_crop': bilinear resize of the short side then center crop (StyleGAN-V); "
        "'squash': bilinear resize straight to resolution x resolution (original TF FVD).",
    )
    clip_sampling: ClipSampling = Field(
        "first", description="Which num_frames frames: 'first' consecutive, 'center' consecutive, 'uniform' spread."
    )
    batch_size: int = Field(8, ge=1, description="Clips per I3D forward.")


class MotionConfig(BaseModel):
    """Motion FD: Fréchet distance of temporal power spectra (see mcm.eval.motion)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Compute the motion Fréchet distance.")
    num_frames: int = Field(16, ge=4, description="Frames per clip.")
    clip_sampling: ClipSampling = Field("first", description="Which frames form the clip (as FVDConfig).")
    grid: int = Field(32, ge=4, description="Frames are area-pooled to grid x grid grey pixels.")
    blocks: int = Field(4, ge=1, description="Spectra are averaged within blocks x blocks spatial cells.")
    log_eps: float = Field(1e-6, gt=0, description="Added to the power before the log.")

    @model_validator(mode="after")
    def _blocks_divide_grid(self) -> "MotionConfig":
        if self.grid % self.blocks:
            raise ValueError(f"blocks ({self.blocks}) must divide grid ({self.grid})")
        return self


class CLIPSimConfig(BaseModel):
    """CLIPSIM: mean cosine of CLIP image (every frame) and text embeddings, x100 (paper section 4)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Compute CLIPSIM.")
    model: str = Field("openai/clip-vit-base-patch16", description="CLIPModel local folder or hub id (ViT-B/16).")
    local_files_only: bool = Field(True, description="Never download: a hub id must already be cached.")
    batch_size: int = Field(64, ge=1, description="Frames per CLIP image forward.")
    scale: float = Field(100.0, description="Reported value = scale x mean cosine (papers report x100).")


class FIDConfig(BaseModel):
    """FID of frames against an image set, torchmetrics/torch-fidelity InceptionV3 pool features (2048)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="Compute FID (paper section 4.2).")
    weights: Optional[Path] = Field(
        None, description="torch-fidelity InceptionV3 weights as safetensors (from `mcm convert inception`)."
    )
    reference_images: Optional[Path] = Field(
        None, description="Folder of reference images (png/jpg); None: frames of the prompt set's videos."
    )
    frames_per_video: Optional[int] = Field(
        None, ge=1, description="Frames per video, evenly spaced (linspace over the clip); None: every frame."
    )
    antialias: bool = Field(
        False,
        description="False: torch-fidelity's TF1-compatible bilinear resize to 299 (original TTUR FID, the "
        "convention behind most published FIDs); True: torchmetrics' antialiased bilinear resize.",
    )
    batch_size: int = Field(64, ge=1, description="Frames per Inception forward.")


class ToyMetricsConfig(BaseModel):
    """The small world's protocol (mcm.eval.toy): its frozen eval networks, the image set M, thresholds."""

    model_config = ConfigDict(extra="forbid")
    networks: Path = Field(
        Path("assets/toy/eval"), description="Folder of the world's frozen evaluation networks (load_eval_networks)."
    )
    networks_seed: Optional[int] = Field(
        None, description="When set, use randomly initialised eval networks of this seed instead of `networks` "
        "(smoke tests only: the numbers mean nothing)."
    )
    images: Optional[Path] = Field(
        None, description="The image set M for fid_toy: M's CSV (id,url,caption,aesthetic,...; rows filtered by "
        "min_aesthetic) or a folder of prepared images (all used); None: fid_toy is skipped."
    )
    image_column: str = Field("url", description="CSV column with the image path (relative to image_root).")
    image_root: Optional[Path] = Field(
        None, description="Folder relative image paths resolve against (default: the CSV's folder)."
    )
    aesthetic_column: str = Field(
        "aesthetic", description="CSV column with the aesthetic score (no filter when the column is absent)."
    )
    min_aesthetic: Optional[float] = Field(6.0, description="Keep M rows with aesthetic >= this (None: keep all).")
    collapse_std: float = Field(0.02, ge=0, description="A video whose pixel std is below this is collapsed.")
    collapse_mean: float = Field(
        0.04, ge=0, description="A video whose pixel mean is below this (near-black) is collapsed."
    )
    watermark_threshold: float = Field(0.5, ge=0, le=1, description="A frame counts as watermarked when prob > this.")
    style_threshold: float = Field(0.5, ge=0, le=1, description="A frame counts as styled when prob > this.")
    motion_tolerance: float = Field(
        0.5, ge=0, description="Least mean centroid displacement (pixels/frame at a 32-pixel-wide frame, scaled "
        "with the width) for a video to move at all."
    )
    motion_mask_threshold: float = Field(
        0.2, gt=0, description="RGB distance from the background colour above which a pixel is object."
    )
    sharpness_quantile: float = Field(0.99, gt=0, lt=1, description="Quantile of a frame's chroma gradient magnitudes.")
    batch_size: int = Field(64, ge=1, description="Videos (or frames) per eval-network forward.")


class BaselineCacheConfig(BaseModel):
    """Results of teacher baselines (method specs without a student checkpoint), kept once per key.

    A baseline's numbers depend only on the teacher's files, the prompt set (file and reference clips), the
    seeds, the video count and the metric protocol: ``mcm.eval.baseline_cache`` hashes exactly these into a
    key, so a rerun (or another run on the same world) evaluates only the student. ``dirs`` are searched
    first and never written (e.g. the results shipped with the assets); new entries go to ``write_dir``.
    """

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(True, description="Read and write cached teacher-baseline results.")
    dirs: list[Path] = Field(default_factory=list, description="Read-only caches searched first (shipped ones).")
    write_dir: Optional[Path] = Field(
        None, description="Where new entries are written (None: <out_dir>/baseline_cache)."
    )


class EvalConfig(BaseModel):
    """Everything ``mcm eval`` needs: prompts, methods, metrics, output."""

    model_config = ConfigDict(extra="forbid")
    prompts: PromptSetConfig = Field(..., description="Prompt set (WebVid-mini or MSRVTT style).")
    methods: list[MethodSpec] = Field(..., min_length=1, description="Samplers to evaluate.")
    out_dir: Path = Field(Path("runs/eval"), description="Where metrics.json, report.html and media go.")
    reference_cache_dir: Optional[Path] = Field(
        None, description="Cache of reference statistics (default: <out_dir>/reference_stats)."
    )
    device: str = Field("cpu", description="Device for generation and feature networks.")
    batch_size: int = Field(4, ge=1, description="Prompts per generator call.")
    seed: int = Field(0, description="Video i is generated with seed `seed + i` (same across methods).")
    num_videos: Optional[int] = Field(None, ge=1, description="Videos per method (None: one per prompt).")
    grid_prompts: int = Field(4, ge=0, description="Prompts shown in the video grid (the first ones).")
    gif_fps: int = Field(8, ge=1, description="Frame rate of the grid GIFs.")
    frechet_method: Literal["eigh", "sqrtm"] = Field("eigh", description="Matrix square root of the FD.")
    fvd: FVDConfig = Field(default_factory=FVDConfig, description="FVD protocol.")
    motion: MotionConfig = Field(default_factory=MotionConfig, description="Motion FD protocol.")
    clipsim: CLIPSimConfig = Field(default_factory=CLIPSimConfig, description="CLIPSIM protocol.")
    fid: FIDConfig = Field(default_factory=FIDConfig, description="FID protocol.")
    protocol: Literal["real", "toy"] = Field(
        "real", description="'real': fvd/motion/clipsim/fid sections; 'toy': the small world's metrics (toy section)."
    )
    toy: ToyMetricsConfig = Field(default_factory=ToyMetricsConfig, description="Small-world protocol.")
    baseline_cache: BaselineCacheConfig = Field(
        default_factory=BaselineCacheConfig, description="Cache of teacher-baseline results (mcm.eval.baseline_cache)."
    )

    @model_validator(mode="after")
    def _unique_methods(self) -> "EvalConfig":
        keys = [m.key for m in self.methods]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"methods: duplicate method@steps entries {dup}")
        return self


#: Package of the evaluation presets (``mcm eval --config toy``).
EVAL_PRESET_PACKAGE = "mcm.eval.presets"


def load_eval_config(
    name_or_path: str | Path,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    section: str | None = None,
) -> EvalConfig:
    """An EvalConfig from a preset (``mcm/eval/presets``) or a YAML file (its dotted key ``section`` if given;
    ``base:`` chains presets), then ``sets`` (``key=value``, dotted keys, YAML values), then ``overrides``
    (top-level keys, None values ignored)."""
    from pydantic import ValidationError

    from mcm.config.load import apply_dotted_sets, read_yaml_source

    data = read_yaml_source(str(name_or_path), EVAL_PRESET_PACKAGE, section=section)
    apply_dotted_sets(data, sets)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return EvalConfig.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise ValueError(f"eval config {str(name_or_path)!r}: {problems}") from None
