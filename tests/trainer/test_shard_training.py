"""Training from webdataset shards written by `mcm data videos`: runs, and resumes at the right item."""

import csv

import torch

from mcm.config.load import load_config
from mcm.data.ingest import VideoIngestConfig, ingest_videos
from mcm.data.synthetic import SyntheticVideoDataset
from mcm.sampler.video_io import write_video
from mcm.teachers.registry import load_teacher
from mcm.trainer.data_loading import build_loader, build_video_dataset
from mcm.trainer.trainer import Trainer


def make_shards(tmp_path):
    clips = SyntheticVideoDataset(6, num_frames=12, height=16, width=16)
    with open(tmp_path / "videos.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "path", "caption"])
        writer.writeheader()
        for i in range(6):
            write_video(clips[i]["video"], tmp_path / f"c{i}.mp4", fps=8)
            writer.writerow({"id": f"c{i}", "path": f"c{i}.mp4", "caption": clips[i]["caption"]})
    manifest = ingest_videos(VideoIngestConfig(
        input=str(tmp_path / "videos.csv"), root=str(tmp_path), output=str(tmp_path / "shards"),
        num_frames=4, height=16, width=16, frame_stride=2, rows_per_shard=2, frame_codec="npy",
    ))
    assert manifest.num_written == 6
    return tmp_path / "shards"


def test_distill_from_shards_and_resume_position(tmp_path):
    shards = make_shards(tmp_path)
    sets = ["data.source=shards", f"data.path={shards}", "data.shuffle_buffer=4", "optim.max_steps=3",
            "train.validate_every=0"]
    cfg = load_config("tiny", sets)
    assert Trainer(cfg, tmp_path / "run").train() == "done"

    teacher = load_teacher(cfg.teacher)
    fresh = iter(build_loader(build_video_dataset(cfg, teacher), cfg, 0, 1, start=0))
    batches = [next(fresh) for _ in range(4)]
    assert batches[0]["video"].shape == (2, 4, 3, 16, 16)
    resumed = next(iter(build_loader(build_video_dataset(cfg, teacher), cfg, 0, 1, start=3)))
    assert resumed["caption"] == batches[3]["caption"]
    torch.testing.assert_close(resumed["video"], batches[3]["video"])
