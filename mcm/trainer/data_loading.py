"""Building the video dataset and this rank's loader from the data config."""

from __future__ import annotations

from torch.utils.data import DataLoader, Dataset

from mcm.config.schema import MCMConfig
from mcm.data.base import collate_videos
from mcm.data.synthetic import SyntheticVideoDataset
from mcm.teachers.base import Teacher
from mcm.trainer.batching import ShardedBatchSampler


def build_video_dataset(cfg: MCMConfig, teacher: Teacher) -> Dataset:
    d = cfg.data
    if d.source == "synthetic":
        if teacher.synthetic_dataset_fn is not None:
            return teacher.synthetic_dataset_fn(d, cfg.train.seed)
        return SyntheticVideoDataset(d.synthetic_size, d.num_frames, d.height, d.width, seed=cfg.train.seed)
    if d.source == "csv":
        from mcm.data.csv_videos import CsvVideoDataset

        return CsvVideoDataset(
            d.path, root=d.root, num_frames=d.num_frames, height=d.height, width=d.width, frame_stride=d.frame_stride
        )
    raise ValueError(f"data.source={d.source!r} is not supported by the trainer yet")


def build_loader(dataset: Dataset, cfg: MCMConfig, rank: int, world_size: int, start: int) -> DataLoader:
    """Infinite loader over this rank's shard, starting after ``start`` consumed micro-batches."""
    sampler = ShardedBatchSampler(len(dataset), cfg.data.batch_size, rank, world_size, cfg.train.seed, start=start)
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_videos,
        num_workers=cfg.data.num_workers,
        persistent_workers=cfg.data.num_workers > 0,
    )
