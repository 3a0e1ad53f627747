"""Typed configuration of the training data: the video set V and the image set M."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from mcm.config.base import StrictConfig


class DataConfig(StrictConfig):
    """The video-caption dataset V (see ``mcm.data.base`` for the item contract)."""

    source: Literal["synthetic", "csv", "shards"] = Field("synthetic", description="Where clips come from.")
    path: Optional[str] = Field(None, description="CSV file (source=csv) or shard pattern/folder (source=shards).")
    root: Optional[str] = Field(None, description="Root that relative video paths in the CSV resolve against.")
    num_frames: int = Field(16, ge=1, description="Frames per clip (Section 4: 16).")
    height: int = Field(256, ge=8, description="Clip height in pixels (ModelScope 256, AnimateDiff 512).")
    width: int = Field(256, ge=8, description="Clip width in pixels.")
    frame_stride: Optional[int] = Field(None, ge=1, description="Frame stride; None normalises by frame rate.")
    clip_start: Literal["random", "centre"] = Field(
        "random", description="Where a clip starts in a longer video decoded at training time (source=csv): "
        "'random' draws the start per (train.seed, epoch, row), as the authors draw a random start, so every epoch "
        "sees another window and a resumed run the same one; 'centre' takes the centred window (ingestion's).")
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


class ImageDataConfig(StrictConfig):
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
    min_aesthetic: Optional[float] = Field(
        None, description="source=csv: keep rows whose aesthetic_column >= this (the LAION-aes rule of `mcm data "
        "images`, for stages that need a map-style set); None keeps all.")
    aesthetic_column: str = Field("aesthetic", description="CSV column with the aesthetic score (min_aesthetic).")
    height: Optional[int] = Field(None, ge=8, description="Image height; None = data.height.")
    width: Optional[int] = Field(None, ge=8, description="Image width; None = data.width.")
    synthetic_size: int = Field(64, ge=1, description="Number of generated images (source=synthetic).")
    shuffle_buffer: int = Field(1000, ge=0, description="Shuffle buffer of the shard stream (source=shards).")

    @model_validator(mode="after")
    def _path_given(self):
        if self.source in ("csv", "shards") and not self.path:
            raise ValueError(f"images.path is required when images.source={self.source!r}")
        return self
