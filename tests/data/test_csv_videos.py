"""CsvVideoDataset: items of the contract, bad rows skipped deterministically and counted."""

from __future__ import annotations

import torch

from mcm.data.csv_videos import CsvVideoDataset
from mcm.data.decode import read_clip


def test_items_and_skips(bad_set):
    csv_path, root, good, _ = bad_set
    ds = CsvVideoDataset(str(csv_path), root=str(root), num_frames=8, height=32, width=32, frame_stride=2,
                         clip_start="centre")
    assert len(ds) == 14
    item = ds[0]
    frames, info = read_clip((root / "good0.mp4").read_bytes(), 8, 32, 32, frame_stride=2)
    assert info.stride == 2 and item["caption"] == "a red ball rolls"
    expect = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(item["video"], expect)
    # row 4 is corrupt, 5 truncated, 6 empty, 7 too short, ... row 13 is a valid duplicate; wraps to row 0 after
    assert ds[4]["caption"] == ds[13]["caption"] == "dup"
    # image.jpg (3 bytes of JPEG header) opens as an image with no frame: too_short
    assert ds.skipped == {"decode_error": 2, "empty_file": 1, "too_short": 2, "missing_caption": 2, "unreachable": 2}
    assert ds[12]["caption"] == "dup" and ds[-1]["caption"] == "dup"


def test_random_clip_start_is_drawn_per_epoch_and_row_and_repeats(bad_set):
    """The authors draw a random start (issue 27: training always read the centred window). The start is seeded
    by (seed, epoch, row): another window each epoch, the same one for the same key (resume, ranks)."""
    csv_path, root, _, _ = bad_set
    ds = CsvVideoDataset(str(csv_path), root=str(root), num_frames=8, height=32, width=32, frame_stride=1, seed=3)
    assert ds.keyed_by_epoch
    data = (root / "good0.mp4").read_bytes()  # 20 frames: 13 possible starts of an 8-frame clip
    starts = []
    for epoch in range(12):
        item = ds[(epoch, 0)]
        torch.testing.assert_close(item["video"], ds[(epoch, 0)]["video"])  # same key, same clip
        frames, info = read_clip(data, 8, 32, 32, frame_stride=1, start_fraction=ds.start_fraction(epoch, 0))
        torch.testing.assert_close(item["video"], torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 127.5 - 1)
        starts.append(info.indices[0])
    assert len(set(starts)) >= 5 and min(starts) >= 0 and max(starts) <= 12
    assert starts != [6] * 12  # not the centred window every epoch
    centred = CsvVideoDataset(str(csv_path), root=str(root), num_frames=8, height=32, width=32, frame_stride=1,
                              clip_start="centre")
    assert not centred.keyed_by_epoch and centred.start_fraction(5, 0) is None


def test_sampler_keys_carry_the_epoch_and_resume_in_place():
    from mcm.trainer.batching import ShardedBatchSampler

    one = ShardedBatchSampler(6, 2, 0, 1, seed=1, with_epoch=True)
    keys = [one.indices_of(p) for p in range(9)]  # 3 micro-batches per epoch
    assert [k[0][0] for k in keys] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert sorted(i for k in keys[:3] for _, i in k) == list(range(6))
    resumed = iter(ShardedBatchSampler(6, 2, 0, 1, seed=1, start=4, with_epoch=True))
    assert [next(resumed) for _ in range(5)] == keys[4:]
