"""Real-world decoding: every real video file gives its default stream's clip matching the ffmpeg binary."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from mcm.data.decode import ClipError, choose_stride, clip_indices, ffmpeg_scale_args, read_clip, resize_geometry

#: Stated tolerance: max absolute difference, in 8-bit levels, from ffmpeg with explicit matrix/range/siting.
MAX_LEVEL_DIFF = 2
REAL_FILES = ["av1_video.mkv", "bt709_full_range.mp4", "h264_10bits.mp4", "h265_10bits.mp4", "h265_video.mp4",
              "nasa_13013.mp4"]


def ffmpeg_frames(path, info, height, width):
    """All frames of the file's default video stream by the ffmpeg binary, converted like ``info.colour``."""
    sw, sh, x0, y0 = resize_geometry(*info.source_size, width, height)
    vf = f"scale={sw}:{sh}:flags=area:{ffmpeg_scale_args(info.colour)},crop={width}:{height}:{x0}:{y0},format=rgb24"
    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-vf", vf,
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, height, width, 3)


@pytest.mark.parametrize("name", REAL_FILES)
@pytest.mark.parametrize("shape", [(8, 64, 64), (16, 256, 256)], ids=["small", "modelscope"])
def test_real_video_matches_ffmpeg(real_videos, name, shape):
    f, h, w = shape
    path = real_videos / name
    try:
        clip, info = read_clip(path.read_bytes(), f, h, w, target_fps=25 / 8)
    except ClipError as err:
        # The only file that cannot give a 16-frame clip is the 10-frame one; the reason says so.
        assert (name, f, err.reason) == ("h265_video.mp4", 16, "too_short")
        return
    ref = ffmpeg_frames(path, info, h, w)
    assert clip.shape == (f, h, w, 3)
    assert info.num_source_frames == len(ref)
    diff = np.abs(ref[list(info.indices)].astype(int) - clip.astype(int))
    assert diff.max() <= MAX_LEVEL_DIFF, (name, info.colour, diff.max())


def test_multistream_uses_default_stream(real_videos):
    _, info = read_clip((real_videos / "nasa_13013.mp4").read_bytes(), 8, 64, 64)
    assert info.stream_index == 3 and info.source_size == (480, 270)  # ffmpeg's pick: the larger video stream


def test_stride_normalised_by_fps_and_shrunk_for_short_videos():
    assert choose_stride(500, 16, 25.0, 25 / 8, None) == 8
    assert choose_stride(500, 16, 30.0, 25 / 8, None) == 10
    assert choose_stride(500, 16, 24.0, 25 / 8, None) == 8
    assert choose_stride(31, 16, 25.0, 25 / 8, None) == 2  # 15 * 2 + 1 = 31 frames fit exactly
    assert clip_indices(31, 16, 2) == tuple(range(0, 31, 2))
    assert clip_indices(20, 8, 1) == tuple(range(6, 14))  # centred
    assert clip_indices(20, 8, 1, 0.0)[0] == 0 and clip_indices(20, 8, 1, 0.999)[0] == 12  # the whole slack
    assert clip_indices(5, 8, 1, 0.5)[0] == 0
    with pytest.raises(ClipError, match="too_short"):
        choose_stride(15, 16, 25.0, 25 / 8, None)


def test_bad_bytes_raise_clip_error_with_reason():
    with pytest.raises(ClipError) as e1:
        read_clip(b"", 8, 32, 32)
    with pytest.raises(ClipError) as e2:
        read_clip(b"not a video at all" * 50, 8, 32, 32)
    assert (e1.value.reason, e2.value.reason) == ("empty_file", "decode_error")
