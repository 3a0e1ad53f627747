"""Writing videos: MP4 (H.264 through PyAV) and GIF (imageio)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

MP4_CODEC = "libx264"
MP4_PIXEL_FORMAT = "yuv420p"


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """(F, 3, H, W) in [-1, 1] -> (F, H, W, 3) uint8."""
    if video.ndim != 4 or video.shape[1] != 3:
        raise ValueError(f"expected a video (F, 3, H, W), got shape {tuple(video.shape)}")
    frames = ((video.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return frames.permute(0, 2, 3, 1).numpy()


def write_mp4(video: torch.Tensor, path: str | Path, fps: int = 8) -> Path:
    """Write (F, 3, H, W) in [-1, 1] as an H.264 MP4 (sides padded to even sizes)."""
    import av

    frames = to_uint8_frames(video)
    f, h, w, _ = frames.shape
    ph, pw = h + h % 2, w + w % 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(MP4_CODEC, rate=fps)
        stream.width, stream.height, stream.pix_fmt = pw, ph, MP4_PIXEL_FORMAT
        for frame in frames:
            if (ph, pw) != (h, w):
                frame = np.pad(frame, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_gif(video: torch.Tensor, path: str | Path, fps: int = 8) -> Path:
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, to_uint8_frames(video), duration=1000.0 / fps, loop=0)
    return path


def write_video(video: torch.Tensor, path: str | Path, fps: int = 8) -> Path:
    """MP4 or GIF by the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".mp4":
        return write_mp4(video, path, fps)
    if suffix == ".gif":
        return write_gif(video, path, fps)
    raise ValueError(f"output {path!s}: unsupported video suffix {suffix!r} (use .mp4 or .gif)")


def read_mp4(path: str | Path) -> torch.Tensor:
    """(F, 3, H, W) uint8 frames of a video file (PyAV)."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
