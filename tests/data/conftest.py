"""Fixtures of the data tests: tiny synthetic videos, a bad-input set, real-video folder lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_media import make_video, write_csv  # noqa: F401  (re-exported for fixtures)

REAL_VIDEOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-videos"
#: Captions with non-ASCII text that must survive byte for byte.
CAPTIONS = ["a red ball rolls", "ein Hund läuft über die Wiese", "猫がピアノを弾く 🎹", "a \"quoted\", comma"]


@pytest.fixture(scope="session")
def bad_set(tmp_path_factory):
    """A CSV over good and bad videos; returns (csv path, root, expected good ids, expected reasons)."""
    root = tmp_path_factory.mktemp("bad_set")
    rows, good = [], []
    for i in range(4):
        make_video(root / f"good{i}.mp4", 20, seed=i)
        rows.append({"id": f"good{i}", "path": f"good{i}.mp4", "caption": CAPTIONS[i]})
        good.append(f"good{i}")
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    data = (root / "good0.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "empty.mp4").write_bytes(b"")
    make_video(root / "short.mp4", 3, seed=9)
    (root / "image.jpg").write_bytes(b"\xff\xd8\xff")
    rows += [
        {"id": "corrupt", "path": "corrupt.mp4", "caption": "x"},
        {"id": "truncated", "path": "truncated.mp4", "caption": "x"},
        {"id": "empty", "path": "empty.mp4", "caption": "x"},
        {"id": "short", "path": "short.mp4", "caption": "x"},
        {"id": "nocap", "path": "good1.mp4", "caption": ""},
        {"id": "blankcap", "path": "good2.mp4", "caption": "   "},
        {"id": "wrongext", "path": "image.jpg", "caption": "x"},
        {"id": "missing", "path": "does/not/exist.mp4", "caption": "x"},
        {"id": "remote", "path": "nosuchproto://bucket/v.mp4", "caption": "x"},
        {"id": "good0", "path": "good3.mp4", "caption": "dup"},
    ]
    reasons = {"decode_error": 2, "empty_file": 1, "too_short": 1, "missing_caption": 2, "bad_extension": 1,
               "unreachable": 2, "duplicate_id": 1}
    return write_csv(root / "videos.csv", rows), root, good, reasons


@pytest.fixture
def real_videos() -> Path:
    if not REAL_VIDEOS.is_dir():
        pytest.skip(f"real-video fixtures not found at {REAL_VIDEOS} (CI keeps them beside the checkout)")
    return REAL_VIDEOS
