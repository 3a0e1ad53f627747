"""Prompt sets of the paper's protocol (section 4.1), read from files the user provides.

* WebVid-mini style: a CSV with a caption column and optionally a reference-video column (500 validation
  captions with their videos in the paper).
* MSRVTT style: the MSRVTT annotation JSON (``videos`` with ``video_id``/``split``, ``sentences`` with
  ``video_id``/``sen_id``/``caption``); one caption per video, by ``caption_rule``: "first" takes the
  lowest ``sen_id`` (default), "random" draws one per video with ``caption_seed``. The test split has
  2990 videos (the "~2900" of the paper); reference videos are ``<video_root>/<video_id>.mp4``.

Reference videos decode to (F, C, H, W) float in [0, 1] with PyAV; unreadable videos are skipped and counted.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import torch

from mcm.eval.config import PromptSetConfig


@dataclass
class PromptSet:
    """Prompts (N,) and optional reference video paths (N,) (None where a row has no video)."""

    name: str
    prompts: list[str]
    videos: list[Optional[Path]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)

    @property
    def reference_videos(self) -> list[Path]:
        return [v for v in self.videos if v is not None]


def _resolve(path: str, root: Optional[Path], base: Path) -> Path:
    p = Path(path)
    if p.is_absolute():
        return p
    return (root if root is not None else base) / p


def _load_csv(cfg: PromptSetConfig) -> PromptSet:
    with open(cfg.path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if cfg.caption_column not in columns:
            raise ValueError(f"prompts.caption_column {cfg.caption_column!r} not in CSV columns {columns}")
        has_video = cfg.video_column is not None and cfg.video_column in columns
        prompts, videos = [], []
        for row in reader:
            caption = (row[cfg.caption_column] or "").strip()
            if not caption:
                continue
            prompts.append(caption)
            cell = (row[cfg.video_column] or "").strip() if has_video else ""
            videos.append(_resolve(cell, cfg.video_root, cfg.path.parent) if cell else None)
    return PromptSet(cfg.path.stem, prompts, videos)


def _load_msrvtt(cfg: PromptSetConfig) -> PromptSet:
    data = json.loads(Path(cfg.path).read_text(encoding="utf-8"))
    if "sentences" not in data:
        raise ValueError(f"prompts.path {str(cfg.path)!r}: MSRVTT JSON needs a 'sentences' list")
    vids = data.get("videos")
    if vids is None:
        order = list(dict.fromkeys(s["video_id"] for s in data["sentences"]))
    else:
        order = [v["video_id"] for v in vids if cfg.split is None or v.get("split") == cfg.split]
    by_video: dict[str, list[tuple[int, str]]] = {}
    for s in data["sentences"]:
        by_video.setdefault(s["video_id"], []).append((int(s.get("sen_id", 0)), s["caption"].strip()))
    rng = random.Random(cfg.caption_seed)
    prompts, videos = [], []
    root = cfg.video_root
    for vid in order:
        caps = sorted(by_video.get(vid, []))
        if not caps:
            continue
        prompts.append(caps[0][1] if cfg.caption_rule == "first" else rng.choice(caps)[1])
        videos.append((root / f"{vid}.mp4") if root is not None else None)
    return PromptSet(cfg.path.stem, prompts, videos)


def load_prompt_set(cfg: PromptSetConfig) -> PromptSet:
    """Read the prompt set described by ``cfg`` (CSV or MSRVTT JSON), truncated to ``cfg.limit``."""
    if not Path(cfg.path).is_file():
        raise ValueError(f"prompts.path not found: {str(cfg.path)!r}")
    ps = _load_csv(cfg) if cfg.format == "csv" else _load_msrvtt(cfg)
    if not ps.prompts:
        raise ValueError(f"prompts.path {str(cfg.path)!r} holds no prompts")
    if cfg.limit is not None:
        ps.prompts, ps.videos = ps.prompts[: cfg.limit], ps.videos[: cfg.limit]
    return ps


def read_video(path: str | Path, max_frames: Optional[int] = None) -> torch.Tensor:
    """Decode a video to (F, C, H, W) float in [0, 1]; stops after ``max_frames`` when given."""
    import av
    import numpy as np

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise ValueError(f"video {str(path)!r} has no decodable frames")
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def iter_reference_videos(
    paths: list[Path], max_frames: Optional[int] = None, skipped: Optional[list[str]] = None
) -> Iterator[torch.Tensor]:
    """Decode reference videos one by one; unreadable ones are skipped and their paths appended to ``skipped``."""
    for p in paths:
        try:
            yield read_video(p, max_frames)
        except Exception as err:  # PyAV raises its own error types; skip and count
            if skipped is not None:
                skipped.append(f"{p}: {err}")
