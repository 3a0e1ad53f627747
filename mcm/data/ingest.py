"""``mcm data videos``: ingest a video-caption set into webdataset training shards.

Each input video gives one clip of ``num_frames`` frames, sampled at a stride normalised by its frame rate
(default ``target_fps`` 3.125: every 8th frame at 25 fps, 8-10 at 24-30 fps, the authors' sampling of
WebVid, method notes "data"), resized to cover ``height`` x ``width`` and centre-cropped
(:mod:`mcm.data.decode`). A shard sample is ``{key}.mp4`` (or ``.npy``) with the frames (F, H, W, 3) uint8,
``{key}.txt`` with the caption (UTF-8, byte for byte) and ``{key}.json`` with the provenance.

Bad input never stops the run: every bad row is counted by reason in the manifest (``missing_caption``,
``bad_extension``, ``duplicate_id``, ``unreachable``, ``empty_file``, ``decode_error``, ``no_video_stream``,
``too_short``); :meth:`Manifest.exceeds` tells the CLI whether the bad share is above ``max_bad_fraction``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Literal, Optional

from pydantic import ConfigDict, Field, model_validator

from mcm.data.clipcodec import encode_clip
from mcm.data.decode import INTERPOLATIONS, ClipError, read_clip
from mcm.data.manifest import Manifest, ShardWorkConfig, run_units
from mcm.data.sources import WorkUnit, detect_format, fetch, mark_rejects, plan_units, tar_items
from mcm.data.tario import Sample

#: Frame rate a clip is sampled at: the authors take every 8th frame of (mostly 25 fps) WebVid video.
AUTHORS_TARGET_FPS = 25.0 / 8.0
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v")


class VideoIngestConfig(ShardWorkConfig):
    """What ``mcm data videos`` reads, how it samples clips, and how it writes shards."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="CSV/Parquet table, folder of videos with sidecar captions, or tar shards.")
    input_format: Literal["auto", "csv", "parquet", "folder", "webdataset"] = Field(
        "auto", description="Input kind; 'auto' decides from the input's name.")
    root: Optional[str] = Field(None, description="Folder or URL that relative table paths are joined to.")
    output: str = Field(..., description="Output folder or URL for shards and manifest.json.")
    path_column: str = Field("path", description="Table column with the video path or URL.")
    caption_column: str = Field("caption", description="Table column with the caption.")
    id_column: Optional[str] = Field("id", description="Table column with a unique id (the path if absent).")
    num_frames: int = Field(16, ge=1, description="Frames F per clip (ModelScope 16, 'small' preset 8).")
    height: int = Field(256, ge=8, description="Clip height H in pixels.")
    width: int = Field(256, ge=8, description="Clip width W in pixels.")
    target_fps: Optional[float] = Field(AUTHORS_TARGET_FPS, gt=0,
                                        description="Sampling rate: stride = round(fps / target_fps).")
    frame_stride: Optional[int] = Field(None, ge=1, description="Fixed stride in source frames (overrides target_fps).")
    min_stride: int = Field(1, ge=1, description="Smallest stride a short video may use before it is skipped.")
    interpolation: str = Field("area", description=f"Resize filter: one of {sorted(INTERPOLATIONS)}.")
    frame_codec: Literal["mp4", "npy"] = Field("mp4", description="Frame storage: x264 RGB mp4 (lossy) or npy (exact).")
    crf: int = Field(18, ge=0, le=51, description="x264 constant rate factor for frame_codec 'mp4' (0 = lossless).")
    shard_prefix: str = Field("videos", description="Shard file name prefix.")
    video_extensions: tuple[str, ...] = Field(VIDEO_EXTENSIONS, description="Accepted video file extensions.")

    @model_validator(mode="after")
    def _check(self) -> "VideoIngestConfig":
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation={self.interpolation!r}: expected one of {sorted(INTERPOLATIONS)}")
        return self


def _unit_items(config: VideoIngestConfig, unit: WorkUnit):
    if unit.tar_url is None:
        return unit.items
    items = list(tar_items(unit.tar_url, config.video_extensions))
    mark_rejects(items, config.video_extensions)
    return items


def process_video_unit(config: VideoIngestConfig, unit: WorkUnit) -> tuple[list[Sample], int, Counter, Counter]:
    """Decode and encode the clips of one unit: (samples, rows seen, skipped by reason, filtered by reason)."""
    items = _unit_items(config, unit)
    samples: list[Sample] = []
    skipped: Counter = Counter()
    for pos, item in enumerate(items):
        if item.reject:
            skipped[item.reject] += 1
            continue
        try:
            data = fetch(item)
            frames, info = read_clip(data, config.num_frames, config.height, config.width, config.target_fps,
                                     config.frame_stride, config.min_stride, config.interpolation)
        except OSError:
            skipped["unreachable"] += 1
            continue
        except ClipError as err:
            skipped[err.reason] += 1
            continue
        ext, payload = encode_clip(frames, config.frame_codec, config.crf)
        meta = {
            "id": item.id, "source": item.path, "fps": info.fps, "stride": info.stride,
            "indices": list(info.indices), "stream_index": info.stream_index,
            "num_frames": config.num_frames, "height": config.height, "width": config.width,
            "colour": {"matrix": info.colour.matrix, "full_range": info.colour.full_range,
                       "chroma_location": info.colour.chroma_location},
        }
        key = f"v{unit.index:06d}_{pos:06d}"
        samples.append((key, {ext: payload, "txt": item.caption.encode("utf-8"),
                              "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")}))
    return samples, len(items), skipped, Counter()


def ingest_videos(config: VideoIngestConfig) -> Manifest:
    """Ingest ``config.input`` into shards under ``config.output``; returns the manifest (written when complete)."""
    fmt = detect_format(config.input) if config.input_format == "auto" else config.input_format
    units = plan_units(config.input, fmt, config.rows_per_shard, root=config.root, path_column=config.path_column,
                       caption_column=config.caption_column, id_column=config.id_column,
                       media_extensions=config.video_extensions)
    return run_units("videos", config, units, process_video_unit, output=config.output, prefix=config.shard_prefix,
                     num_workers=config.num_workers, task_index=config.task_index, num_tasks=config.num_tasks)
