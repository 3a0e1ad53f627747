"""CsvVideoDataset: items of the contract, bad rows skipped deterministically and counted."""

from __future__ import annotations

import torch

from mcm.data.csv_videos import CsvVideoDataset
from mcm.data.decode import read_clip


def test_items_and_skips(bad_set):
    csv_path, root, good, _ = bad_set
    ds = CsvVideoDataset(str(csv_path), root=str(root), num_frames=8, height=32, width=32, frame_stride=2)
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
