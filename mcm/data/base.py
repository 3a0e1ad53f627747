"""The dataset interface every data source implements.

A *video item* is a dict ``{"video": FloatTensor (F, C, H, W) in [-1, 1], "caption": str}``.
An *image item* is a dict ``{"image": FloatTensor (C, H, W) in [-1, 1], "caption": str}``.

Sources (generated tensors, a CSV of video paths, webdataset shards, ...) are ``torch.utils.data.Dataset``
(map-style, ``__len__`` + ``__getitem__``) or ``IterableDataset`` objects yielding such dicts. The trainer
collates them with :func:`collate_videos` into ``{"video": (B, F, C, H, W), "caption": list[str]}``.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

VIDEO_KEY = "video"
IMAGE_KEY = "image"
CAPTION_KEY = "caption"


def collate_videos(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack video items into a batch: video (B, F, C, H, W), caption list[str]."""
    if not items:
        raise ValueError("collate_videos got an empty list of items")
    return {
        VIDEO_KEY: torch.stack([it[VIDEO_KEY] for it in items]),
        CAPTION_KEY: [it[CAPTION_KEY] for it in items],
    }


def collate_images(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack image items into a batch: image (B, C, H, W), caption list[str]."""
    if not items:
        raise ValueError("collate_images got an empty list of items")
    return {
        IMAGE_KEY: torch.stack([it[IMAGE_KEY] for it in items]),
        CAPTION_KEY: [it[CAPTION_KEY] for it in items],
    }
