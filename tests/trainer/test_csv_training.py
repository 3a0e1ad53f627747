"""Training from a CSV of real video files (decoded with PyAV), one of them corrupt."""

import csv

from mcm.config.load import load_config
from mcm.data.synthetic import SyntheticVideoDataset
from mcm.sampler.video_io import write_video
from mcm.trainer.trainer import Trainer


def test_distill_from_a_csv_of_videos_skips_and_counts_a_corrupt_one(tmp_path):
    clips = SyntheticVideoDataset(4, num_frames=12, height=16, width=16)
    rows = []
    for i in range(4):
        write_video(clips[i]["video"], tmp_path / f"clip{i}.mp4", fps=8)
        rows.append({"path": f"clip{i}.mp4", "caption": clips[i]["caption"]})
    (tmp_path / "broken.mp4").write_bytes(b"\x00not a video" * 10)
    rows.insert(1, {"path": "broken.mp4", "caption": "a broken file"})
    with open(tmp_path / "train.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "caption"])
        writer.writeheader()
        writer.writerows(rows)

    cfg = load_config("tiny", [
        "data.source=csv", f"data.path={tmp_path / 'train.csv'}", f"data.root={tmp_path}", "data.frame_stride=2",
        "optim.max_steps=3", "train.validate_every=0",
    ])
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.train() == "done"
    assert len(trainer.dataset) == 5
    batch = next(iter(trainer.loader))
    assert batch["video"].shape == (2, 4, 3, 16, 16) and batch["video"].abs().max() <= 1
    # Every clip read in-process went through the skip logic; the corrupt row is counted, never returned.
    items = [trainer.dataset[i] for i in range(5)]
    assert sum(trainer.dataset.skipped.values()) >= 1
    assert all(it["caption"] != "a broken file" for it in items)
