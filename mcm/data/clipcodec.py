"""Compact storage of a clip of frames inside a shard: lossless ``npy`` arrays or H.264 ``mp4``.

``npy`` stores the uint8 array (F, H, W, 3) exactly. ``mp4`` encodes RGB with x264's RGB encoder
(``libx264rgb``, no YUV matrix or chroma subsampling involved) at a constant rate factor; with the default
``crf`` the round-trip PSNR on natural clips is above :data:`MP4_MIN_PSNR_DB` (tested).

Determinism: the same frames always give the same bytes (a resumed ingestion must rewrite a shard byte for
byte). Encoding is single threaded with explicit timestamps, and on CPUs with AVX-512 x264's instruction set
is capped at :data:`X264_ASM_CEILING`: x264's AVX-512 kernels (reached through the macroblock-tree
lookahead) let uninitialised memory into the rate control, so that identical frames gave a different
bitstream in about 1 encode in 30 (4 frames of 32x32, x264 core 165; frames differing by up to 10 levels),
depending on what the process had allocated before. Capped at AVX2 the output is stable and equal to the
majority AVX-512 output and to the output of AVX2-only machines.
"""

from __future__ import annotations

import functools
import io
import platform
from pathlib import Path

import av
import numpy as np

#: Extensions a video sample may carry its frames under.
CLIP_EXTENSIONS = ("npy", "mp4")
#: Lower bound on the PSNR (dB, 8-bit peak) of the ``mp4`` round trip at the default crf, stated and tested.
MP4_MIN_PSNR_DB = 35.0
#: Frame rate written into re-encoded clips (only metadata: clips are already sampled).
_STORED_FPS = 8
#: x264 speed preset: "veryfast" keeps ingestion decode-bound at the default crf (PSNR bound still holds).
X264_PRESET = "veryfast"
#: Highest x264 instruction set used on CPUs that have AVX-512 (see the module docstring); every such CPU
#: has AVX2, so the cap is safe where it is applied.
X264_ASM_CEILING = "avx2"
#: /proc/cpuinfo flag that marks an AVX-512 CPU, and the machine names of x86-64.
_AVX512_FLAG = "avx512f"
_X86_64 = frozenset({"x86_64", "amd64"})
_CPUINFO = Path("/proc/cpuinfo")


@functools.lru_cache(maxsize=1)
def _cpu_has_avx512() -> bool:
    """True on an x86-64 Linux CPU that advertises AVX-512 (elsewhere x264 takes no AVX-512 path we know of)."""
    if platform.machine().lower() not in _X86_64:
        return False
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return _AVX512_FLAG in line.split(":", 1)[-1].split()
    return False


def x264_options(crf: int) -> dict[str, str]:
    """libx264rgb options of :func:`encode_clip`: crf, preset, one thread, and the AVX-512 cap where needed."""
    options = {"crf": str(crf), "preset": X264_PRESET, "threads": "1"}
    if _cpu_has_avx512():
        options["x264-params"] = f"asm={X264_ASM_CEILING}"
    return options


def encode_clip(frames: np.ndarray, codec: str = "mp4", crf: int = 18) -> tuple[str, bytes]:
    """uint8 (F, H, W, 3) -> (extension, bytes)."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected uint8 (F, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    if codec == "npy":
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(frames), allow_pickle=False)
        return "npy", buf.getvalue()
    if codec != "mp4":
        raise ValueError(f"codec={codec!r}: expected one of {CLIP_EXTENSIONS}")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264rgb", rate=_STORED_FPS)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb24"
        stream.options = x264_options(crf)
        stream.codec_context.thread_count = 1
        for index, arr in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = index  # explicit timestamps: the encoder's output is then a function of the frames alone
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return "mp4", buf.getvalue()


def decode_clip(ext: str, data: bytes) -> np.ndarray:
    """(extension, bytes) -> uint8 (F, H, W, 3)."""
    if ext == "npy":
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        if arr.dtype != np.uint8 or arr.ndim != 4:
            raise ValueError(f"npy clip: expected uint8 (F, H, W, 3), got {arr.dtype} {arr.shape}")
        return arr
    if ext == "mp4":
        with av.open(io.BytesIO(data), mode="r") as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        if not frames:
            raise ValueError("mp4 clip holds no frames")
        return np.stack(frames)
    raise ValueError(f"clip extension={ext!r}: expected one of {CLIP_EXTENSIONS}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 arrays (peak 255); inf when equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)
