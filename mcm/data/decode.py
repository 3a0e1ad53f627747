"""Decode one clip of F frames from a video file with PyAV (frame extraction for ingestion and loaders).

The clip is sampled the way the MCM authors sampled WebVid (every 8th frame of 24-30 fps video, 16 frames,
so a clip spans about 128 source frames, method notes "data"): the frame stride is normalised by the
video's frame rate, ``stride = round(fps / target_fps)``. A video shorter than one clip at that stride is
sampled at the largest smaller stride that fits (never below ``min_stride``), else it is rejected with
:class:`ClipError` ``too_short``; it never crashes the caller.

Colour: YUV is converted to RGB by swscale with an *explicit* matrix and range taken from the stream's tags
(untagged streams use :data:`UNTAGGED_MATRIX` and limited range, swscale's own defaults; ``yuvj*`` pixel
formats are full range; chroma sited "left"). :func:`ffmpeg_scale_args` gives the same choice as ffmpeg ``scale`` filter options,
so a reference decode by the ffmpeg binary is comparable level for level.

The clip's window is the centred one (ingestion) or starts where ``start_fraction`` puts it (training from a
video table draws it per epoch, as the authors draw a random start: :mod:`mcm.data.csv_videos`).

Output: ``uint8`` array (F, H, W, 3), resized so the shorter side covers the target and centre-cropped.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, BinaryIO

import av
import numpy as np
from av.video.reformatter import Colorspace, ColorRange, Interpolation

#: Matrix assumed for streams that do not tag one (swscale's and ffmpeg's default, ITU-R BT.601).
UNTAGGED_MATRIX = "bt601"
#: AVColorSpace code (frame.colorspace) -> ffmpeg ``scale`` filter matrix name.
_AVCOL_SPC_TO_MATRIX = {1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
#: ffmpeg matrix name -> PyAV/swscale colourspace.
_MATRIX_TO_SWS = {
    "bt709": Colorspace.ITU709,
    "bt601": Colorspace.ITU601,
    "fcc": Colorspace.FCC,
    "smpte240m": Colorspace.SMPTE240M,
    "bt2020": Colorspace.BT2020,
}
#: Chroma siting that swscale applies to PyAV frames: decoders of the MPEG family tag 4:2:0 chroma as
#: "left" (their specification default); others (AV1, VP9) leave it unspecified, which swscale treats as
#: "center". Measured against ffmpeg's ``in_chroma_loc`` on the real-video fixtures.
LEFT_SITED_DECODERS = frozenset({"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4"})
DEFAULT_CHROMA_LOCATION = "center"
#: AVColorRange codes.
_AVCOL_RANGE_MPEG = 1
_AVCOL_RANGE_JPEG = 2
#: swscale threads per conversion: frames are small and work is parallel across worker processes instead.
SWS_THREADS = 1
#: Interpolation names accepted by configs -> swscale flags.
INTERPOLATIONS = {
    "area": Interpolation.AREA,
    "bilinear": Interpolation.BILINEAR,
    "bicubic": Interpolation.BICUBIC,
    "lanczos": Interpolation.LANCZOS,
}


class ClipError(Exception):
    """A video that cannot yield a clip; ``reason`` is a short counter key (``too_short``, ``decode_error``...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ColourSpec:
    """The YUV->RGB conversion applied: matrix name (ffmpeg spelling) and whether the input is full range."""

    matrix: str
    full_range: bool
    chroma_location: str = DEFAULT_CHROMA_LOCATION


@dataclass(frozen=True)
class ClipInfo:
    """Where a clip came from: stream index, fps, the source frame indices, the stride and colour used."""

    stream_index: int
    fps: float
    num_source_frames: int
    stride: int
    indices: tuple[int, ...]
    colour: ColourSpec
    source_size: tuple[int, int]  # (width, height)


def colour_spec(frame: av.VideoFrame, decoder: str = "") -> ColourSpec:
    """Matrix, range and chroma siting for a decoded frame, from its tags and its decoder's name."""
    matrix = _AVCOL_SPC_TO_MATRIX.get(int(frame.colorspace), UNTAGGED_MATRIX)
    rng = int(frame.color_range)
    full = rng == _AVCOL_RANGE_JPEG or (rng != _AVCOL_RANGE_MPEG and frame.format.name.startswith("yuvj"))
    chroma = "left" if decoder in LEFT_SITED_DECODERS else DEFAULT_CHROMA_LOCATION
    return ColourSpec(matrix=matrix, full_range=full, chroma_location=chroma)


def ffmpeg_scale_args(colour: ColourSpec) -> str:
    """ffmpeg ``scale`` filter options that apply ``colour`` explicitly, e.g. ``in_color_matrix=bt709:in_range=tv``."""
    rng = "pc" if colour.full_range else "tv"
    return f"in_color_matrix={colour.matrix}:in_range={rng}:out_range=pc:in_chroma_loc={colour.chroma_location}"


def resize_geometry(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Scaled size covering (width, height) with the source aspect kept, and the centre-crop offsets.

    Returns (scaled_w, scaled_h, x0, y0).
    """
    scale = max(width / src_w, height / src_h)
    sw, sh = max(width, round(src_w * scale)), max(height, round(src_h * scale))
    return sw, sh, (sw - width) // 2, (sh - height) // 2


def choose_stride(num_frames_src: int, num_frames: int, fps: float, target_fps: float | None,
                  frame_stride: int | None, min_stride: int = 1) -> int:
    """Stride for a clip of ``num_frames`` out of ``num_frames_src``; raises ClipError('too_short').

    The preferred stride is ``frame_stride`` if given, else ``round(fps / target_fps)`` (>= 1); it shrinks
    to fit a short video but never below ``min_stride``.
    """
    if frame_stride is not None:
        preferred = frame_stride
    elif target_fps is not None:
        preferred = max(1, round(fps / target_fps))
    else:
        preferred = 1
    if num_frames <= 1:
        return max(preferred, 1) if num_frames_src >= 1 else _too_short(num_frames_src, num_frames)
    fit = (num_frames_src - 1) // (num_frames - 1)
    stride = min(preferred, fit)
    if stride < max(min_stride, 1):
        _too_short(num_frames_src, num_frames)
    return stride


def _too_short(n_src: int, n: int) -> int:
    raise ClipError("too_short", f"{n_src} frames cannot give a clip of {n}")


def clip_indices(num_frames_src: int, num_frames: int, stride: int,
                 start_fraction: float | None = None) -> tuple[int, ...]:
    """Source frame indices ``start + stride * k`` for k < num_frames.

    ``start_fraction`` None gives the centred clip; a value u in [0, 1) puts the start at ``floor(u * (slack + 1))``
    of the ``slack`` frames a clip can move, so every start is equally likely for a uniform u.
    """
    span = (num_frames - 1) * stride + 1
    slack = max(0, num_frames_src - span)
    if start_fraction is None:
        start = slack // 2
    else:
        if not 0.0 <= start_fraction < 1.0:
            raise ValueError(f"start_fraction={start_fraction}: must lie in [0, 1)")
        start = min(int(start_fraction * (slack + 1)), slack)
    return tuple(start + stride * k for k in range(num_frames))


def _estimate_frames(container: av.container.InputContainer, stream: av.video.VideoStream, fps: float) -> int:
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if stream.duration is not None and stream.time_base is not None:
        return int(round(float(stream.duration * stream.time_base) * fps))
    if container.duration is not None:
        return int(round(container.duration / av.time_base * fps))
    return 0


def _convert(frame: av.VideoFrame, width: int | None, height: int | None, interpolation: str,
             colour: ColourSpec) -> np.ndarray:
    """One frame to uint8 (H, W, 3): explicit YUV->RGB, resize to cover, centre crop."""
    if width is None or height is None:
        sw, sh, x0, y0 = frame.width, frame.height, 0, 0
        width, height = frame.width, frame.height
    else:
        sw, sh, x0, y0 = resize_geometry(frame.width, frame.height, width, height)
    out = frame.reformat(
        width=sw, height=sh, format="rgb24",
        src_colorspace=_MATRIX_TO_SWS[colour.matrix],
        src_color_range=ColorRange.JPEG if colour.full_range else ColorRange.MPEG,
        interpolation=INTERPOLATIONS[interpolation],
        threads=SWS_THREADS,
    )
    arr = out.to_ndarray()
    return np.ascontiguousarray(arr[y0:y0 + height, x0:x0 + width])


def _decode_indices(source: Any, wanted: tuple[int, ...], width: int | None, height: int | None,
                    interpolation: str) -> tuple[list[np.ndarray], int, ColourSpec | None]:
    """Decode frames in order, keep ``wanted``; returns (frames, frames decoded, colour)."""
    want = set(wanted)
    last = max(wanted) if wanted else -1
    frames: list[np.ndarray] = []
    colour: ColourSpec | None = None
    n = 0
    with av.open(source, mode="r") as container:
        stream = container.streams.best("video")
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if colour is None:
                colour = colour_spec(frame, stream.codec_context.name)
            if n in want:
                frames.append(_convert(frame, width, height, interpolation, colour))
            n += 1
            if n > last:
                break
    return frames, n, colour


def probe(source: Any) -> tuple[int, float, int, tuple[int, int]]:
    """(default video stream index, fps, estimated frame count, (width, height)); raises ClipError."""
    try:
        with av.open(source, mode="r") as container:
            stream = container.streams.best("video")
            if stream is None:
                raise ClipError("no_video_stream")
            rate = stream.average_rate or stream.guessed_rate
            if not rate:
                raise ClipError("decode_error", "stream has no frame rate")
            fps = float(rate)
            return stream.index, fps, _estimate_frames(container, stream, fps), (stream.width, stream.height)
    except ClipError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise ClipError("decode_error", str(exc)) from exc


def read_clip(data: bytes | BinaryIO, num_frames: int, height: int | None = None, width: int | None = None,
              target_fps: float | None = None, frame_stride: int | None = None, min_stride: int = 1,
              interpolation: str = "area", start_fraction: float | None = None) -> tuple[np.ndarray, ClipInfo]:
    """Decode a clip of ``num_frames`` frames from a video (bytes or a file object): the centred one, or the one
    ``start_fraction`` places (:func:`clip_indices`; training draws it per epoch).

    Returns uint8 (F, H, W, 3) and its :class:`ClipInfo`. Raises :class:`ClipError` with reason
    ``empty_file``, ``decode_error``, ``no_video_stream`` or ``too_short``; never anything else for bad media.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r}: expected one of {sorted(INTERPOLATIONS)}")
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) == 0:
            raise ClipError("empty_file")
        make = lambda: io.BytesIO(data)  # noqa: E731
    else:
        raw = data.read()
        if not raw:
            raise ClipError("empty_file")
        make = lambda: io.BytesIO(raw)  # noqa: E731
    stream_index, fps, n_est, size = probe(make())
    try:
        n_src = max(n_est, 1)
        for _attempt in range(2):  # second pass only when the container over-states its frame count
            stride = choose_stride(n_src, num_frames, fps, target_fps, frame_stride, min_stride)
            wanted = clip_indices(n_src, num_frames, stride, start_fraction)
            frames, n_decoded, colour = _decode_indices(make(), wanted, width, height, interpolation)
            if len(frames) == num_frames:
                info = ClipInfo(stream_index, fps, n_src, stride, wanted, colour, size)  # type: ignore[arg-type]
                return np.stack(frames), info
            if n_decoded == 0:
                raise ClipError("decode_error", "no frame could be decoded")
            n_src = n_decoded
        raise ClipError("too_short", f"only {n_src} decodable frames")
    except ClipError:
        raise
    except (av.error.FFmpegError, ValueError, OSError, MemoryError) as exc:
        raise ClipError("decode_error", str(exc)) from exc
