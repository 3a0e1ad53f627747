"""Small video and CSV writers shared by the data tests and bench/data.py.

Not in conftest.py: spawned worker processes import these by module name, and ``conftest`` is ambiguous
(tests/conftest.py and tests/data/conftest.py are both on sys.path in a full run).
"""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np


def make_video(path: Path, num_frames: int, size: int = 48, fps: int = 25, seed: int = 0) -> Path:
    """Write a small H.264 mp4 of a moving gradient with noise (natural enough for a codec)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    with av.open(str(path), mode="w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.options = {"preset": "ultrafast", "threads": "1"}
        for t in range(num_frames):
            img = np.stack([(xx * 4 + t * 3) % 256, (yy * 4 + seed * 40) % 256, ((xx + yy) * 2 + t) % 256], -1)
            img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["id", "path", "caption"])
        w.writeheader()
        w.writerows(rows)
    return path
