"""Map-style dataset decoding clips straight from a CSV of video paths (small sets, debugging, evaluation).

Each row (columns ``path`` and ``caption``; ``path`` relative to ``root``, absolute, or an fsspec URL) gives
one clip of ``num_frames`` frames sampled like ingestion does (:func:`mcm.data.decode.read_clip`: stride
``frame_stride``, or ``round(fps / target_fps)``, shrunk for short videos). A row that cannot give a clip
(unreachable, corrupt, too short, no caption) does not stop training: ``__getitem__`` moves on to the next
row (``i + 1``, wrapping) deterministically and counts the skip by reason in ``self.skipped``.

Where a clip starts: with ``clip_start="random"`` (the default, as the authors draw a random start) the
training loader asks for ``(epoch, row)`` keys (:attr:`CsvVideoDataset.keyed_by_epoch`), and the start is drawn
from a generator seeded by ``(seed, epoch, row)``: every epoch sees another window of a long video, every rank
and every resumed run the same one. A plain integer key (evaluation, debugging) reads epoch 0's window;
``clip_start="centre"`` reads the centred window as ingestion does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import numpy as np
from torch.utils.data import Dataset

from mcm.data.base import CAPTION_KEY, VIDEO_KEY
from mcm.data.decode import ClipError, read_clip
from mcm.data.ingest import AUTHORS_TARGET_FPS
from mcm.data.shards import to_unit_range
from mcm.data.sources import SourceItem, detect_format, fetch, table_items


class CsvVideoDataset(Dataset):
    """Rows of a CSV/Parquet -> ``{"video": (F, C, H, W) float in [-1, 1], "caption": str}``.

    ``target_fps`` defaults to the authors' sampling (every 8th frame at 25 fps) unless ``frame_stride`` is
    given.
    """

    def __init__(self, csv_path: str, root: str | None = None, num_frames: int = 16, height: int = 256,
                 width: int = 256, frame_stride: int | None = None, target_fps: float | None = None,
                 clip_start: Literal["random", "centre"] = "random", seed: int = 0) -> None:
        for name, value in (("num_frames", num_frames), ("height", height), ("width", width)):
            if value < 1:
                raise ValueError(f"{name}={value}: must be >= 1")
        if frame_stride is not None and frame_stride < 1:
            raise ValueError(f"frame_stride={frame_stride}: must be >= 1")
        if clip_start not in ("random", "centre"):
            raise ValueError(f"clip_start={clip_start!r}: expected 'random' or 'centre'")
        fmt = detect_format(csv_path)
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"csv_path={csv_path!r}: expected a .csv, .tsv or .parquet table")
        self.items: list[SourceItem] = table_items(csv_path, fmt, root, "path", "caption", None)
        if not self.items:
            raise ValueError(f"csv_path={csv_path!r}: the table has no rows")
        self.num_frames, self.height, self.width = num_frames, height, width
        self.frame_stride = frame_stride
        self.clip_start, self.seed = clip_start, seed
        self.target_fps = target_fps if (target_fps is not None or frame_stride is not None) else AUTHORS_TARGET_FPS
        self.skipped: Counter = Counter()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def keyed_by_epoch(self) -> bool:
        """Whether the loader should pass ``(epoch, row)`` keys (the random clip start depends on the epoch)."""
        return self.clip_start == "random"

    def start_fraction(self, epoch: int, index: int) -> float | None:
        """Where row ``index``'s clip starts in epoch ``epoch`` (a fraction of the slack; None: centred)."""
        if self.clip_start == "centre":
            return None
        return float(np.random.default_rng([self.seed, epoch, index]).random())

    def load(self, index: int, epoch: int = 0) -> dict[str, Any]:
        """The item of row ``index``; raises ClipError (with a reason) when the row is bad."""
        item = self.items[index]
        if item.caption is None:
            raise ClipError("missing_caption")
        if item.path is None:
            raise ClipError("missing_path")
        try:
            data = fetch(item)
        except OSError as exc:
            raise ClipError("unreachable", str(exc)) from exc
        frames, _ = read_clip(data, self.num_frames, self.height, self.width, self.target_fps, self.frame_stride,
                              start_fraction=self.start_fraction(epoch, index))
        return {VIDEO_KEY: to_unit_range(frames), CAPTION_KEY: item.caption}

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Item of row ``key`` (epoch 0) or of ``key = (epoch, row)`` (the training loader's keys)."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        n = len(self.items)
        if not -n <= index < n:
            raise IndexError(f"index={index} out of range for {n} rows")
        for k in range(n):
            try:
                return self.load((index + k) % n, epoch)
            except ClipError as err:
                self.skipped[err.reason] += 1
        raise RuntimeError(f"no row of the table gives a clip; skipped by reason: {dict(self.skipped)}")
