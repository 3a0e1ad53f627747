"""Clip codec: the same frames give the same bytes, whatever the process did before; the mp4 round trip."""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest

from mcm.data import clipcodec
from mcm.data.clipcodec import MP4_MIN_PSNR_DB, decode_clip, encode_clip, psnr, x264_options
from mcm.data.decode import read_clip

from data_media import make_video

#: Encodes per determinism check. Before the AVX-512 cap, 4 frames of 32x32 gave a different bitstream in
#: about 1 encode in 30 on an AVX-512 CPU, so 150 encodes catch it with probability above 0.99.
NUM_ENCODES = 150
#: Sizes of the throw-away allocations made between encodes: they change what the allocator hands x264.
CHURN_SIZES = (100, 1000, 3072, 5000, 20000, 100000)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_digests(frames: np.ndarray, repeats: int, seed: int) -> list[str]:
    """SHA-256 of ``repeats`` mp4 encodes of ``frames``, with seeded heap churn before each (pool target)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        junk = [bytearray(rng.integers(0, 256, size=int(rng.choice(CHURN_SIZES)), dtype=np.uint8).tobytes())
                for _ in range(int(rng.integers(0, 30)))]
        del junk[::2]  # free half: holes of varied sizes that the next encode's buffers land in
        out.append(_digest(encode_clip(frames)[1]))
        del junk
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> np.ndarray:
    """The (4, 32, 32, 3) clip the resume test ingests from its first video."""
    path = make_video(tmp_path_factory.mktemp("codec") / "v.mp4", 12, size=32, seed=0)
    frames, _ = read_clip(path.read_bytes(), 4, 32, 32, 25.0 / 8.0)
    return frames


def test_same_frames_same_bytes_in_process_and_in_workers(clip):
    here = encode_digests(clip, NUM_ENCODES, seed=0)
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        there = [d for f in [pool.submit(encode_digests, clip, NUM_ENCODES // 5, s) for s in (1, 2)]
                 for d in f.result()]
    distinct = set(here) | set(there)
    assert len(distinct) == 1, {d[:8]: (here + there).count(d) for d in distinct}


def test_avx512_cpus_cap_x264_instruction_set(monkeypatch, tmp_path):
    fake = tmp_path / "cpuinfo"
    monkeypatch.setattr(clipcodec, "_CPUINFO", fake)
    monkeypatch.setattr(clipcodec.platform, "machine", lambda: "x86_64")
    clipcodec._cpu_has_avx512.cache_clear()
    try:
        assert x264_options(18) == {"crf": "18", "preset": clipcodec.X264_PRESET, "threads": "1"}  # unreadable
        fake.write_text("processor : 0\nflags : fpu sse2 avx avx2 fma\n")
        clipcodec._cpu_has_avx512.cache_clear()
        assert "x264-params" not in x264_options(18)
        fake.write_text("processor : 0\nflags : fpu sse2 avx2 avx512f avx512bw avx512vl\n")
        clipcodec._cpu_has_avx512.cache_clear()
        assert x264_options(20) == {"crf": "20", "preset": clipcodec.X264_PRESET, "threads": "1",
                                    "x264-params": "asm=avx2"}
        monkeypatch.setattr(clipcodec.platform, "machine", lambda: "aarch64")
        clipcodec._cpu_has_avx512.cache_clear()
        assert "x264-params" not in x264_options(18)
    finally:
        clipcodec._cpu_has_avx512.cache_clear()


def test_mp4_round_trip_above_stated_psnr(clip):
    ext, data = encode_clip(clip)
    back = decode_clip(ext, data)
    assert back.shape == clip.shape and psnr(back, clip) > MP4_MIN_PSNR_DB
    ext, data = encode_clip(clip, "npy")
    np.testing.assert_array_equal(decode_clip(ext, data), clip)
