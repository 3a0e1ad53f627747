"""``mcm data images``: filter an image-caption set (LAION style) into image shards.

Rules, applied from metadata first (no download) and from the decoded image where metadata lacks a field:
aesthetic score >= ``min_aesthetic`` (LAION-aes, the paper's high-quality image set of section 4.2, keeps
>= 6), shorter side >= ``min_size``, aspect ratio (long/short) <= ``max_aspect_ratio``, and optional
watermark / NSFW probability limits. Without an aesthetic column the score is computed by
:class:`mcm.data.aesthetic.AestheticScorer` (CLIP image model + head from local paths).

Rows removed by these rules are *filtered* (policy); rows that are unusable (no caption, unreachable,
undecodable, duplicate id) are *skipped* (bad input) and count towards ``max_bad_fraction``. A shard sample
is ``{key}.jpg|png|webp`` (the original bytes, or a JPEG of the ``resize`` x ``resize`` centre crop),
``{key}.txt`` (caption) and ``{key}.json`` (id, source, score, size).
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from typing import Any, Literal, Optional

from pydantic import ConfigDict, Field

from mcm.data.aesthetic import AestheticScorer, AestheticScorerConfig
from mcm.data.manifest import Manifest, ShardWorkConfig, run_units
from mcm.data.sources import SourceItem, WorkUnit, detect_format, fetch, mark_rejects, plan_units, tar_items
from mcm.data.tario import Sample
from mcm.data.transforms import cover_crop

#: LAION-aesthetics threshold of the paper's LAION-aes set.
LAION_AES_THRESHOLD = 6.0
IMAGE_FILE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
#: JPEG quality of re-encoded (resized) images.
JPEG_QUALITY = 95
#: PIL format name -> shard extension.
_FORMAT_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}

_SCORERS: dict[str, AestheticScorer] = {}


class ImageFilterConfig(ShardWorkConfig):
    """What ``mcm data images`` reads, the filter rules, and how it writes shards."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="CSV/Parquet metadata, folder with sidecar captions, or tar shards.")
    input_format: Literal["auto", "csv", "parquet", "folder", "webdataset"] = Field("auto", description="Input kind.")
    root: Optional[str] = Field(None, description="Folder or URL that relative paths are joined to.")
    output: str = Field(..., description="Output folder or URL for shards and manifest.json.")
    url_column: str = Field("url", description="Column with the image path or URL (LAION: URL).")
    caption_column: str = Field("caption", description="Column with the caption (LAION: TEXT).")
    id_column: Optional[str] = Field("id", description="Column with a unique id (the url if absent).")
    aesthetic_column: str = Field("aesthetic", description="Column with the aesthetic score, if present.")
    width_column: str = Field("width", description="Column with the width in pixels, if present.")
    height_column: str = Field("height", description="Column with the height in pixels, if present.")
    watermark_column: str = Field("pwatermark", description="Column with the watermark probability, if present.")
    nsfw_column: str = Field("punsafe", description="Column with the NSFW probability, if present.")
    min_aesthetic: Optional[float] = Field(LAION_AES_THRESHOLD, description="Keep scores >= this (None: no rule).")
    min_size: int = Field(256, ge=0, description="Keep images whose shorter side is >= this.")
    max_aspect_ratio: float = Field(2.0, ge=1.0, description="Keep long/short side ratio <= this.")
    max_watermark: Optional[float] = Field(None, ge=0, le=1, description="Keep watermark probability <= this.")
    max_nsfw: Optional[float] = Field(None, ge=0, le=1, description="Keep NSFW probability <= this.")
    scorer: Optional[AestheticScorerConfig] = Field(None, description="Scorer for rows without an aesthetic score.")
    resize: Optional[int] = Field(None, ge=8, description="Store a resize x resize centre crop (None: original bytes).")
    shard_prefix: str = Field("images", description="Shard file name prefix.")
    image_extensions: tuple[str, ...] = Field(IMAGE_FILE_EXTENSIONS, description="Accepted image extensions.")


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _policy(config: ImageFilterConfig, score: float | None, w: float | None, h: float | None,
            extra: dict[str, Any]) -> str | None:
    """The first rule a row breaks (a ``filtered`` reason), or None; unknown fields pass."""
    if config.min_aesthetic is not None and score is not None and score < config.min_aesthetic:
        return "low_aesthetic"
    if w is not None and h is not None:
        if min(w, h) < config.min_size:
            return "too_small"
        if max(w, h) / max(min(w, h), 1.0) > config.max_aspect_ratio:
            return "bad_aspect"
    wm, ns = _number(extra.get(config.watermark_column)), _number(extra.get(config.nsfw_column))
    if config.max_watermark is not None and wm is not None and wm > config.max_watermark:
        return "watermark"
    if config.max_nsfw is not None and ns is not None and ns > config.max_nsfw:
        return "nsfw"
    return None


def _scorer(config: ImageFilterConfig) -> AestheticScorer:
    key = config.scorer.model_dump_json()  # type: ignore[union-attr]
    if key not in _SCORERS:
        _SCORERS[key] = AestheticScorer(config.scorer)  # type: ignore[arg-type]
    return _SCORERS[key]


def process_image_unit(config: ImageFilterConfig, unit: WorkUnit) -> tuple[list[Sample], int, Counter, Counter]:
    """Filter one unit: (samples, rows seen, skipped by reason, filtered by reason)."""
    from PIL import Image, UnidentifiedImageError

    items: list[SourceItem] = unit.items
    if unit.tar_url is not None:
        items = list(tar_items(unit.tar_url, config.image_extensions))
        mark_rejects(items, config.image_extensions)
    skipped, filtered = Counter(), Counter()
    kept: list[tuple[int, SourceItem, bytes, Any, float | None]] = []
    for pos, item in enumerate(items):
        if item.reject:
            skipped[item.reject] += 1
            continue
        score = _number(item.extra.get(config.aesthetic_column))
        w, h = _number(item.extra.get(config.width_column)), _number(item.extra.get(config.height_column))
        reason = _policy(config, score, w, h, item.extra)
        if reason:
            filtered[reason] += 1
            continue
        try:
            data = fetch(item)
        except OSError:
            skipped["unreachable"] += 1
            continue
        if not data:
            skipped["empty_file"] += 1
            continue
        try:
            img = Image.open(io.BytesIO(data))
            img.load()
        except (OSError, ValueError, Image.DecompressionBombError, UnidentifiedImageError):
            skipped["decode_error"] += 1
            continue
        reason = _policy(config, score, float(img.width), float(img.height), {})
        if reason:
            filtered[reason] += 1
            continue
        kept.append((pos, item, data, img, score))
    if config.min_aesthetic is not None and any(k[4] is None for k in kept):
        if config.scorer is None:
            raise ValueError("scorer: rows lack an aesthetic score and no scorer (clip_path, head_path) is set")
        missing = [i for i, k in enumerate(kept) if k[4] is None]
        scores = _scorer(config)([kept[i][3] for i in missing])
        for i, s in zip(missing, scores):
            kept[i] = (*kept[i][:4], float(s))
    samples: list[Sample] = []
    for pos, item, data, img, score in kept:
        if config.min_aesthetic is not None and score is not None and score < config.min_aesthetic:
            filtered["low_aesthetic"] += 1
            continue
        if config.resize is not None:
            buf = io.BytesIO()
            cover_crop(img.convert("RGB"), config.resize, config.resize).save(buf, "JPEG", quality=JPEG_QUALITY)
            ext, payload = "jpg", buf.getvalue()
        else:
            ext, payload = _FORMAT_EXT.get(img.format or "", "png"), data
            if img.format not in _FORMAT_EXT:
                buf = io.BytesIO()
                img.convert("RGB").save(buf, "PNG")
                payload = buf.getvalue()
        meta = {"id": item.id, "source": item.path, "aesthetic": score, "width": img.width, "height": img.height}
        samples.append((f"i{unit.index:06d}_{pos:06d}", {
            ext: payload, "txt": item.caption.encode("utf-8"),  # type: ignore[union-attr]
            "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")}))
    return samples, len(items), skipped, filtered


def filter_images(config: ImageFilterConfig) -> Manifest:
    """Filter ``config.input`` into image shards under ``config.output``; returns the manifest."""
    fmt = detect_format(config.input) if config.input_format == "auto" else config.input_format
    extra = (config.aesthetic_column, config.width_column, config.height_column, config.watermark_column,
             config.nsfw_column)
    units = plan_units(config.input, fmt, config.rows_per_shard, root=config.root, path_column=config.url_column,
                       caption_column=config.caption_column, id_column=config.id_column, extra_columns=extra,
                       media_extensions=config.image_extensions)
    return run_units("images", config, units, process_image_unit, output=config.output, prefix=config.shard_prefix,
                     num_workers=config.num_workers, task_index=config.task_index, num_tasks=config.num_tasks)
