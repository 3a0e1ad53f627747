"""Streaming training datasets over the shards written by ``mcm data videos`` / ``mcm data images``.

:class:`VideoShardDataset` yields ``{"video": (F, C, H, W) float in [-1, 1], "caption": str}`` and
:class:`ImageShardDataset` ``{"image": (C, H, W) float in [-1, 1], "caption": str}`` (mcm/data/base.py),
from local paths or fsspec URLs.

Order. The stream of one rank is a deterministic function of (seed, rank, world_size, DataLoader workers):
each epoch permutes the shards with ``Random(seed + epoch)`` and deals them round-robin to the
``world_size * num_workers`` (rank, worker) slots; when there are fewer shards than slots every slot reads
all shards and keeps every ``slots``-th sample. Each slot passes its samples through a shuffle buffer of
``shuffle_buffer`` samples with its own seeded RNG. ``repeat=True`` (training) loops over epochs forever.

Resume. ``state_dict()`` is ``{"consumed": n, ...}``: the number of items this rank has handed to the
trainer. Iterated in-process the count is kept automatically; under a DataLoader with workers the dataset
object in the main process never sees the items, so the trainer calls :meth:`advance` with its batch size
after each step (or loads the count it saved). DataLoader takes batch j from worker ``j % num_workers`` and
a batch is ``batch_size`` consecutive items of one worker, so on resume each worker takes over the stream
of the worker whose batch is due next and skips exactly the items that one had produced; the skipped samples are read but not decoded. Give the dataset the DataLoader's
``batch_size`` for this arithmetic.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from typing import Any, Iterator

import fsspec
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from mcm.data.base import CAPTION_KEY, IMAGE_KEY, VIDEO_KEY
from mcm.data.clipcodec import CLIP_EXTENSIONS, decode_clip
from mcm.data.manifest import MANIFEST_NAME
from mcm.data.sources import expand_shards
from mcm.data.tario import Sample, iter_shard, join

#: Image extensions an image sample may carry.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


def shard_urls(spec: str | list[str]) -> list[str]:
    """Shard URLs of a prepared folder (from its manifest), a list, a brace pattern or a glob."""
    if isinstance(spec, str) and not spec.endswith(".tar") and "{" not in spec and "," not in spec:
        fs, path = fsspec.core.url_to_fs(spec)
        if fs.isdir(path):
            if fs.exists(f"{path}/{MANIFEST_NAME}"):
                meta = json.loads(fs.cat_file(f"{path}/{MANIFEST_NAME}"))
                return [join(spec, s["name"]) for s in meta["shards"]]
            prefix = spec.split("://", 1)[0] + "://" if "://" in spec else ""
            return [prefix + p for p in sorted(fs.glob(f"{path}/*.tar"))]
    urls = expand_shards(spec)
    if not urls:
        raise ValueError(f"urls={spec!r}: no shards found")
    return urls


def to_unit_range(arr: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, C) -> float (..., C, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(arr)).movedim(-1, -3)
    return t.float().div_(127.5).sub_(1.0)


class ShapeMismatchError(ValueError):
    """The shards hold clips of another shape than the dataset was asked for (a user error, never skipped)."""


class _ShardStream(IterableDataset):
    """Deterministic, shuffled, rank/worker-split and resumable stream of decoded shard samples."""

    def __init__(self, urls: str | list[str], shuffle_buffer: int = 1000, seed: int = 0, rank: int = 0,
                 world_size: int = 1, repeat: bool = True, batch_size: int = 1) -> None:
        super().__init__()
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank}, world_size={world_size}: need 0 <= rank < world_size")
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer={shuffle_buffer}: must be >= 0")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        self.urls = shard_urls(urls)
        self.shuffle_buffer, self.seed, self.rank, self.world_size = shuffle_buffer, seed, rank, world_size
        self.repeat, self.batch_size = repeat, batch_size
        self.consumed = 0
        self.skipped: Counter = Counter()

    # --- resume -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Position of this rank's stream: items handed to the trainer, plus the arguments fixing the order."""
        return {"consumed": self.consumed, "seed": self.seed, "rank": self.rank, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at ``state['consumed']``; seed and world size must match the saved ones."""
        for k in ("seed", "world_size", "rank"):
            if k in state and state[k] != getattr(self, k):
                raise ValueError(f"load_state_dict: {k}={state[k]!r} saved, dataset has {getattr(self, k)!r}")
        if int(state["consumed"]) < 0:
            raise ValueError(f"consumed={state['consumed']}: must be >= 0")
        self.consumed = int(state["consumed"])

    def advance(self, num_items: int) -> None:
        """Record that the trainer consumed ``num_items`` more items (call when loading with workers)."""
        self.consumed += num_items

    def _resume_slot(self, worker: int, num_workers: int) -> tuple[int, int]:
        """(stream slot this DataLoader worker plays, items of that slot already consumed).

        A fresh DataLoader asks worker 0 first, so after ``b`` consumed batches worker w continues the stream
        of worker ``(w + b) % num_workers`` of the interrupted run.
        """
        if num_workers == 1:
            return worker, self.consumed
        batches = self.consumed // self.batch_size
        slot = (worker + batches) % num_workers
        done = (batches - slot + num_workers - 1) // num_workers if batches > slot else 0
        return slot, done * self.batch_size

    # --- order --------------------------------------------------------------------------------------
    def _slot_samples(self, epoch: int, slot: int, slots: int) -> Iterator[Sample]:
        order = list(self.urls)
        if self.shuffle_buffer > 0:
            random.Random(self.seed + epoch).shuffle(order)
        if len(order) >= slots:
            for url in order[slot::slots]:
                yield from iter_shard(url)
        else:
            n = 0
            for url in order:
                for sample in iter_shard(url):
                    if n % slots == slot:
                        yield sample
                    n += 1

    def _shuffled(self, samples: Iterator[Sample], rng: random.Random) -> Iterator[Sample]:
        if self.shuffle_buffer <= 1:
            yield from samples
            return
        buf: list[Sample] = []
        for s in samples:
            buf.append(s)
            if len(buf) >= self.shuffle_buffer:
                i = rng.randrange(len(buf))
                buf[i], buf[-1] = buf[-1], buf[i]
                yield buf.pop()
        rng.shuffle(buf)
        yield from buf

    def raw_stream(self, worker: int = 0, num_workers: int = 1) -> Iterator[Sample]:
        """Undecoded samples of one worker slot, in stream order (epochs chained when ``repeat``)."""
        slots, slot = self.world_size * num_workers, self.rank * num_workers + worker
        epoch = 0
        while True:
            rng = random.Random(f"{self.seed}-{epoch}-{slot}")
            yield from self._shuffled(self._slot_samples(epoch, slot, slots), rng)
            epoch += 1
            if not self.repeat:
                return

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        slot, skip = self._resume_slot(worker, num_workers)
        for key, files in self.raw_stream(slot, num_workers):
            if skip > 0:
                skip -= 1
                continue
            try:
                item = self.decode(files)
            except ShapeMismatchError:
                raise
            except (ValueError, OSError, KeyError, UnicodeDecodeError) as exc:
                self.skipped[type(exc).__name__] += 1
                continue
            if info is None:
                self.consumed += 1
            yield item

    def decode(self, files: dict[str, bytes]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


class VideoShardDataset(_ShardStream):
    """Video shards -> ``{"video": (F, C, H, W) in [-1, 1], "caption": str}``; see the module docstring.

    ``num_frames``/``height``/``width``, when given, are checked against each clip (a mismatch is a
    ValueError naming the argument: the shards were prepared for another preset).
    """

    def __init__(self, urls: str | list[str], num_frames: int | None = None, height: int | None = None,
                 width: int | None = None, **kwargs: Any) -> None:
        super().__init__(urls, **kwargs)
        self.shape = (num_frames, height, width)

    def decode(self, files: dict[str, bytes]) -> dict[str, Any]:
        ext = next((e for e in CLIP_EXTENSIONS if e in files), None)
        if ext is None:
            raise KeyError(f"sample has no clip ({CLIP_EXTENSIONS}): {sorted(files)}")
        frames = decode_clip(ext, files[ext])
        for name, want, got in zip(("num_frames", "height", "width"), self.shape, frames.shape[:3]):
            if want is not None and want != got:
                raise ShapeMismatchError(f"{name}={want} but the shards hold clips with {name}={got}")
        return {VIDEO_KEY: to_unit_range(frames), CAPTION_KEY: files["txt"].decode("utf-8")}


class ImageShardDataset(_ShardStream):
    """Image shards -> ``{"image": (C, H, W) in [-1, 1], "caption": str}``.

    ``size`` (optional) resizes the shorter side and centre-crops to ``size`` x ``size``.
    """

    def __init__(self, urls: str | list[str], size: int | None = None, **kwargs: Any) -> None:
        super().__init__(urls, **kwargs)
        self.size = size

    def decode(self, files: dict[str, bytes]) -> dict[str, Any]:
        from PIL import Image

        from mcm.data.transforms import cover_crop

        ext = next((e for e in IMAGE_EXTENSIONS if e in files), None)
        if ext is None:
            raise KeyError(f"sample has no image ({IMAGE_EXTENSIONS}): {sorted(files)}")
        img = Image.open(io.BytesIO(files[ext])).convert("RGB")
        if self.size is not None:
            img = cover_crop(img, self.size, self.size)
        return {IMAGE_KEY: to_unit_range(np.asarray(img)), CAPTION_KEY: files["txt"].decode("utf-8")}
