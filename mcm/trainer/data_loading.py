"""Building the video dataset V, the image dataset M and this rank's loaders from the config.

Both loaders are positioned by the number of global micro-batches consumed (``start``), so a resumed run reads
what an uninterrupted one would. Map-style sets (synthetic, csv) are split by :class:`ShardedBatchSampler`
(N ranks with batch b read what one process with batch N*b reads); shard streams split by shard and resume by
item count. The image loader gives ``data.batch_size x discriminator.sparse_frames`` images per micro-batch:
one real image per fake frame of the adversarial loss (Section 3.1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from mcm.config.schema import MCMConfig
from mcm.data.base import CAPTION_KEY, IMAGE_KEY, VIDEO_KEY, collate_images, collate_videos
from mcm.data.synthetic import SyntheticVideoDataset
from mcm.teachers.base import Teacher
from mcm.trainer.batching import ShardedBatchSampler

# The image stream's order is seeded apart from the video stream's.
IMAGE_SEED_OFFSET = 104_729


def build_video_dataset(cfg: MCMConfig, teacher: Teacher, rank: int = 0, world_size: int = 1) -> Dataset:
    d = cfg.data
    if d.source == "synthetic":
        if teacher.synthetic_dataset_fn is not None:
            return teacher.synthetic_dataset_fn(d, cfg.train.seed)
        return SyntheticVideoDataset(d.synthetic_size, d.num_frames, d.height, d.width, seed=cfg.train.seed)
    if d.source == "csv":
        from mcm.data.csv_videos import CsvVideoDataset

        return CsvVideoDataset(
            d.path, root=d.root, num_frames=d.num_frames, height=d.height, width=d.width, frame_stride=d.frame_stride,
            clip_start=d.clip_start, seed=cfg.train.seed,
        )
    if d.source == "shards":
        from mcm.data.shards import VideoShardDataset

        return VideoShardDataset(d.path, num_frames=d.num_frames, height=d.height, width=d.width,
                                 shuffle_buffer=d.shuffle_buffer, seed=cfg.train.seed, rank=rank,
                                 world_size=world_size, batch_size=d.batch_size)
    raise ValueError(f"data.source={d.source!r} is unknown")


def stream_loader(dataset: IterableDataset, cfg: MCMConfig, start: int, batch_size: int, collate) -> DataLoader:
    """Loader over a shard stream positioned after ``start`` micro-batches of ``batch_size`` items."""
    if hasattr(dataset, "load_state_dict"):
        state = dataset.state_dict()
        state["consumed"] = start * batch_size
        dataset.load_state_dict(state)
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate, num_workers=cfg.data.num_workers)


def build_loader(dataset: Dataset, cfg: MCMConfig, rank: int, world_size: int, start: int) -> DataLoader:
    """Infinite loader over this rank's shard, starting after ``start`` consumed micro-batches."""
    if isinstance(dataset, IterableDataset):
        return stream_loader(dataset, cfg, start, cfg.data.batch_size, collate_videos)
    sampler = ShardedBatchSampler(len(dataset), cfg.data.batch_size, rank, world_size, cfg.train.seed, start=start,
                                  with_epoch=getattr(dataset, "keyed_by_epoch", False))
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_videos,
        num_workers=cfg.data.num_workers,
        persistent_workers=cfg.data.num_workers > 0,
    )


# --- the image dataset M -------------------------------------------------------------------------------


class FramesAsImages(Dataset):
    """Image items from a video dataset: frame ``index % F`` of clip ``index`` (synthetic image sets)."""

    def __init__(self, videos: Dataset):
        self.videos = videos

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        item = self.videos[i]
        video = item[VIDEO_KEY]
        return {IMAGE_KEY: video[i % video.shape[0]], CAPTION_KEY: item[CAPTION_KEY]}


class CsvImageDataset(Dataset):
    """Images listed in a CSV (path and caption columns), cover-cropped to height x width, in [-1, 1]."""

    def __init__(self, path: str, root: Optional[str], path_column: str, caption_column: str, height: int, width: int,
                 min_aesthetic: Optional[float] = None, aesthetic_column: str = "aesthetic"):
        import pandas as pd

        table = pd.read_csv(path)
        needed = (path_column, caption_column) + ((aesthetic_column,) if min_aesthetic is not None else ())
        for column in needed:
            if column not in table.columns:
                raise ValueError(f"images.path={path!r} has no column {column!r} (columns: {list(table.columns)})")
        if min_aesthetic is not None:
            table = table[table[aesthetic_column] >= min_aesthetic].reset_index(drop=True)
            if table.empty:
                raise ValueError(f"images.path={path!r}: no row has {aesthetic_column} >= images.min_aesthetic="
                                 f"{min_aesthetic}")
        self.paths = [str(Path(root) / p) if root else str(p) for p in table[path_column]]
        self.captions = [str(c) for c in table[caption_column]]
        self.height, self.width = height, width

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        import numpy as np
        from PIL import Image

        from mcm.data.transforms import cover_crop
        from mcm.data.shards import to_unit_range

        img = cover_crop(Image.open(self.paths[i]).convert("RGB"), self.width, self.height)
        return {IMAGE_KEY: to_unit_range(np.asarray(img)), CAPTION_KEY: self.captions[i]}


class ImagesAsClips(Dataset):
    """Video items of one frame from image items (the spatial stage of the two-stage baseline)."""

    def __init__(self, images: Dataset):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        item = self.images[i]
        return {VIDEO_KEY: item[IMAGE_KEY].unsqueeze(0), CAPTION_KEY: item[CAPTION_KEY]}


def image_size(cfg: MCMConfig) -> tuple[int, int]:
    return cfg.images.height or cfg.data.height, cfg.images.width or cfg.data.width


def images_per_micro_batch(cfg: MCMConfig) -> int:
    """Real images per rank and micro-batch: one per fake frame (B x l)."""
    return cfg.data.batch_size * cfg.discriminator.sparse_frames


def build_image_dataset(cfg: MCMConfig, rank: int = 0, world_size: int = 1) -> Optional[Dataset]:
    """The image set M, or None when ``images.source`` is none (frames of V serve)."""
    m = cfg.images
    height, width = image_size(cfg)
    if m.source == "none":
        return None
    if m.source == "synthetic":
        seed = cfg.train.seed + IMAGE_SEED_OFFSET
        return FramesAsImages(SyntheticVideoDataset(m.synthetic_size, cfg.data.num_frames, height, width, seed=seed))
    if m.source == "csv":
        return CsvImageDataset(m.path, m.root, m.path_column, m.caption_column, height, width,
                               min_aesthetic=m.min_aesthetic, aesthetic_column=m.aesthetic_column)
    if m.source == "shards":
        from mcm.data.shards import ImageShardDataset

        if height != width:
            raise ValueError(f"images.source=shards gives square crops; images.height={height} != images.width={width}")
        return ImageShardDataset(m.path, size=height, shuffle_buffer=m.shuffle_buffer,
                                 seed=cfg.train.seed + IMAGE_SEED_OFFSET, rank=rank, world_size=world_size,
                                 batch_size=images_per_micro_batch(cfg))
    raise ValueError(f"images.source={m.source!r} is unknown")


def build_image_loader(dataset: Dataset, cfg: MCMConfig, rank: int, world_size: int, start: int,
                       batch_size: int, collate=collate_images) -> DataLoader:
    """Infinite loader of ``batch_size`` images per micro-batch, after ``start`` consumed micro-batches."""
    if isinstance(dataset, IterableDataset):
        return stream_loader(dataset, cfg, start, batch_size, collate)
    sampler = ShardedBatchSampler(len(dataset), batch_size, rank, world_size, cfg.train.seed + IMAGE_SEED_OFFSET,
                                  start=start)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.data.num_workers,
                      persistent_workers=cfg.data.num_workers > 0)


def real_frames_of_videos(video: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Frames of V as real images: pixels (B, F, 3, H, W), indices (B, l) -> (B*l, 3, H, W)."""
    from mcm.discriminator.sparse_frames import gather_frames

    return gather_frames(video, frames.to(video.device), frame_dim=1)
