"""Write the small world to disk in the formats real data comes in.

Layout under ``out``::

    videos.csv  videos/<id>.mp4          V: id, path, caption (WebVid's columns; `mcm data videos` input)
    images.csv  images/<id>.png          M: id, url, caption, aesthetic, width, height (LAION's columns;
                                            `mcm data images` input), rows below the threshold included
    styled.csv  styled/<id>.png          the styled set, same columns
    prompts/seen.csv, prompts/zero_shot.csv, prompts/videos/<set>-<i>.mp4
                                         evaluation prompts: caption, video (a clean render), shape, colour,
                                            direction, seed
    world.json                           the WorldConfig and counts (what wrote this folder)

Files are written to a temporary name and renamed, and a file that already exists is kept, so an
interrupted ``mcm world`` resumes; the same config always gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mcm.data.clipcodec import encode_clip
from mcm.world import render
from mcm.world.sets import WorldConfig, WorldItem, items, set_size
from mcm.world.spec import ATTRIBUTES

PROMPT_SETS = ("seen", "zero_shot")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _write_csv(path: Path, header: list[str], rows: Iterable[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _atomic_write(path, buf.getvalue().encode("utf-8"))


def _write_files(its: list[WorldItem], path_of: Callable[[WorldItem], Path],
                 payload: Callable[[WorldItem], bytes]) -> int:
    written = 0
    for it in its:
        path = path_of(it)
        if not path.exists():
            _atomic_write(path, payload(it))
            written += 1
    return written


def _clip_bytes(clip: np.ndarray, cfg: WorldConfig) -> bytes:
    return encode_clip(render.to_uint8(clip), "mp4", cfg.crf)[1]


def write_world(cfg: WorldConfig, out: str | Path, progress: Callable[[str, int], None] | None = None) -> dict:
    """Write every set of the world under ``out``; returns the counts written per set."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    say = progress or (lambda name, n: None)

    videos = items(cfg, "videos", set_size(cfg, "videos"))
    _write_files(videos, lambda it: out / "videos" / f"v{it.index:06d}.mp4",
                 lambda it: _clip_bytes(it.pixels(cfg), cfg))
    _write_csv(out / "videos.csv", ["id", "path", "caption"],
               [[f"v{it.index:06d}", f"videos/v{it.index:06d}.mp4", it.caption] for it in videos])
    counts["videos"] = len(videos)
    say("videos", len(videos))

    size = cfg.size
    for name, prefix in (("images", "m"), ("styled", "s")):
        its = items(cfg, name, set_size(cfg, name))
        _write_files(its, lambda it, n=name, p=prefix: out / n / f"{p}{it.index:06d}.png",
                     lambda it: _png(render.to_uint8(it.pixels(cfg))))
        _write_csv(out / f"{name}.csv", ["id", "url", "caption", "aesthetic", "width", "height"],
                   [[f"{prefix}{it.index:06d}", f"{name}/{prefix}{it.index:06d}.png", it.caption,
                     f"{it.aesthetic:.3f}", size, size] for it in its])
        counts[name] = len(its)
        say(name, len(its))

    for name in PROMPT_SETS:
        its = items(cfg, name, set_size(cfg, name))
        _write_files(its, lambda it, n=name: out / "prompts" / "videos" / f"{n}-{it.index:04d}.mp4",
                     lambda it: _clip_bytes(it.clean(cfg), cfg))
        _write_csv(out / "prompts" / f"{name}.csv", ["caption", "video", *ATTRIBUTES, "seed"],
                   [[it.caption, f"videos/{name}-{it.index:04d}.mp4", *it.combo.names, it.index] for it in its])
        counts[name] = len(its)
        say(name, len(its))

    meta = {"config": cfg.model_dump(mode="json"), "counts": counts}
    _atomic_write(out / "world.json", (json.dumps(meta, indent=1) + "\n").encode("utf-8"))
    return counts
