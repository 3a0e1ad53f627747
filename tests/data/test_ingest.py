"""Ingestion: bad input counted by reason, round trip of frames and captions, resume after a kill."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest

from mcm.cli.data import main as cli_main
from mcm.data.clipcodec import MP4_MIN_PSNR_DB, decode_clip, psnr
from mcm.data.decode import read_clip
from mcm.data.ingest import VideoIngestConfig, ingest_videos, process_video_unit
from mcm.data.manifest import read_manifest
from mcm.data.sources import plan_units
from mcm.data.tario import iter_shard

from data_media import make_video, write_csv

SMALL = dict(num_frames=8, height=32, width=32)


def _samples(out: Path):
    return [(k, f) for t in sorted(out.glob("*.tar")) for k, f in iter_shard(str(t))]


def test_bad_input_counted_by_reason_and_good_items_out(bad_set, tmp_path):
    csv_path, root, good, reasons = bad_set
    cfg = VideoIngestConfig(input=str(csv_path), root=str(root), output=str(tmp_path / "out"), rows_per_shard=5,
                            frame_codec="npy", **SMALL)
    m = ingest_videos(cfg)
    assert m.complete and m.num_input == 14 and m.num_written == len(good)
    assert m.skipped == dict(sorted(reasons.items()))
    assert m.bad_fraction == pytest.approx(10 / 14)
    ids = sorted(json.loads(f["json"])["id"] for _, f in _samples(tmp_path / "out"))
    assert ids == sorted(good)
    assert read_manifest(str(tmp_path / "out")) == m


def test_cli_exit_code_follows_bad_share_limit(bad_set, tmp_path):
    csv_path, root, _, _ = bad_set
    base = [f"input={csv_path}", f"root={root}", "num_frames=8", "height=32", "width=32", "frame_codec=npy"]
    args = lambda out, lim: ["videos", *sum([["--set", s] for s in base + [f"output={out}", f"max_bad_fraction={lim}"]], [])]  # noqa: E731
    assert cli_main(args(tmp_path / "a", 0.8)) == 0
    assert cli_main(args(tmp_path / "b", 0.5)) == 1
    assert cli_main(["videos", "--set", "input=x.csv", "--set", "output=y", "--set", "num_frames=0"]) == 2


@pytest.mark.parametrize("codec", ["npy", "mp4"])
def test_round_trip_frames_and_captions(bad_set, tmp_path, codec):
    csv_path, root, good, _ = bad_set
    cfg = VideoIngestConfig(input=str(csv_path), root=str(root), output=str(tmp_path), frame_codec=codec, **SMALL)
    ingest_videos(cfg)
    captions = {}
    for r in csv.DictReader(open(csv_path, encoding="utf-8")):
        captions.setdefault(r["id"], r["caption"])  # the first row of a duplicated id is the one kept
    samples = _samples(tmp_path)
    assert len(samples) == len(good)
    for _, files in samples:
        meta = json.loads(files["json"])
        assert files["txt"] == captions[meta["id"]].encode("utf-8")  # byte for byte, non-ASCII included
        written, _ = read_clip((root / f"{meta['id']}.mp4").read_bytes(), 8, 32, 32, cfg.target_fps)
        back = decode_clip(codec, files[codec])
        if codec == "npy":
            np.testing.assert_array_equal(back, written)
        else:
            assert psnr(back, written) > MP4_MIN_PSNR_DB


def _resume_set(root: Path) -> Path:
    """Eight 12-frame 25 fps videos (shorter than one clip at the preferred stride 8) and their CSV."""
    root.mkdir()
    rows = []
    for i in range(8):
        make_video(root / f"v{i}.mp4", 12, size=32, seed=i)
        rows.append({"id": f"v{i}", "path": f"v{i}.mp4", "caption": f"clip {i} – ü"})
    return write_csv(root / "v.csv", rows)


def unit_digests(config: VideoIngestConfig, repeats: int) -> list[str]:
    """SHA-256 of every sample file of every unit, ``repeats`` times over (in-process or pool target)."""
    units = plan_units(config.input, "csv", config.rows_per_shard, root=config.root, path_column=config.path_column,
                       caption_column=config.caption_column, id_column=config.id_column,
                       media_extensions=config.video_extensions)
    out = []
    for _ in range(repeats):
        samples = [s for u in units for s in process_video_unit(config, u)[0]]
        out.append(hashlib.sha256(repr(samples).encode()).hexdigest())
    return out


def test_same_sources_give_same_samples_in_process_and_in_workers(tmp_path):
    csv_path = _resume_set(tmp_path / "src")
    cfg = VideoIngestConfig(input=str(csv_path), root=str(tmp_path / "src"), output=str(tmp_path / "out"),
                            num_frames=4, height=32, width=32, rows_per_shard=1)
    here = unit_digests(cfg, 6)
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        there = [d for f in [pool.submit(unit_digests, cfg, 3) for _ in range(2)] for d in f.result()]
    assert len(set(here + there)) == 1, (here, there)


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    root = tmp_path / "src"
    csv_path = _resume_set(root)
    sets = [f"input={csv_path}", f"root={root}", "num_frames=4", "height=32", "width=32", "rows_per_shard=1"]

    def cmd(out):
        return [sys.executable, "-m", "mcm.cli.data", "videos", *sum([["--set", s] for s in sets + [f"output={out}"]], [])]

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    full = tmp_path / "full"
    subprocess.run(cmd(full), check=True, env=env, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(list(killed.glob("*.json"))) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(killed.glob("videos-*.json")))
    assert 0 < done_before < 8 and not (killed / "manifest.json").exists()
    subprocess.run(cmd(killed), check=True, env=env, capture_output=True)
    names = sorted(p.name for p in full.iterdir())
    assert sorted(p.name for p in killed.iterdir() if p.name != ".partial") == names
    differing = [n for n in names if (full / n).read_bytes() != (killed / n).read_bytes()]
    assert not differing, differing


def test_worker_processes_and_task_split_give_same_shards(bad_set, tmp_path):
    csv_path, root, _, _ = bad_set
    common = dict(input=str(csv_path), root=str(root), rows_per_shard=4, frame_codec="npy", **SMALL)
    one = ingest_videos(VideoIngestConfig(output=str(tmp_path / "one"), **common))
    part = ingest_videos(VideoIngestConfig(output=str(tmp_path / "fan"), task_index=1, num_tasks=2, **common))
    assert not part.complete and not (tmp_path / "fan" / "manifest.json").exists()
    rest = ingest_videos(VideoIngestConfig(output=str(tmp_path / "fan"), num_workers=2, **common))
    assert rest.complete and rest.content_hash == one.content_hash and rest == one
