"""Sparse frames for the adversarial loss (Section 3.1, Eq. 4-5).

The adversarial loss sees only l randomly chosen frames per video (l = 2 by default): sparse sampling as in
TSN-style action recognition [52, 64], cheaper than decoding all F frames and kinder to temporal smoothness.
Only those frames go through the VAE decoder, with gradients to the student's latent prediction (the raw
student prediction x0_theta, never the motion head's output).

Order everywhere is video-major: row ``b * l + i`` is frame ``indices[b, i]`` of video b.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

DecodeFn = Callable[[torch.Tensor], torch.Tensor]


FRAME_STRATEGIES = ("random", "segment")


def _check_frames(num_frames: int, l: int, strategy: str) -> None:
    if not 1 <= l <= num_frames:
        raise ValueError(f"sparse frames l={l} must lie in [1, num_frames={num_frames}]")
    if strategy not in FRAME_STRATEGIES:
        raise ValueError(f"frame_sampling={strategy!r} must be 'random' or 'segment'")


def frame_uniforms_needed(num_frames: int, l: int, strategy: str) -> int:
    """Uniforms per video that :func:`frame_indices_from_uniforms` reads: F keys (random) or l offsets (segment)."""
    _check_frames(num_frames, l, strategy)
    return num_frames if strategy == "random" else l


def frame_indices_from_uniforms(u: torch.Tensor, num_frames: int, l: int, strategy: str = "random") -> torch.Tensor:
    """Frame indices (B, l), sorted per row, from uniforms in [0, 1) (B, :func:`frame_uniforms_needed`).

    ``random``: l distinct frames uniformly at random (the l smallest of F random keys). ``segment`` (TSN): the
    F frames split into l equal segments, one random frame from each."""
    _check_frames(num_frames, l, strategy)
    if strategy == "random":
        return u.argsort(dim=1)[:, :l].sort(dim=1).values
    bounds = torch.linspace(0, num_frames, l + 1)
    starts = bounds[:-1].floor().long()
    lengths = (bounds[1:].floor().long() - starts).clamp(min=1)
    return starts.view(1, l) + (u.float() * lengths).floor().long()


def sample_frame_indices(batch: int, num_frames: int, l: int, generator: Optional[torch.Generator] = None,
                         strategy: str = "random", device: torch.device | str | None = None) -> torch.Tensor:
    """Frame indices (B, l), sorted per row, drawn independently per video from ``generator``.

    ``random``: l distinct frames uniformly at random. ``segment`` (TSN): the F frames split into l equal
    segments, one random frame from each. Needs 1 <= l <= F.
    """
    if batch < 1:
        raise ValueError(f"batch={batch} must be >= 1")
    u = torch.rand(batch, frame_uniforms_needed(num_frames, l, strategy), generator=generator)
    idx = frame_indices_from_uniforms(u, num_frames, l, strategy)
    return idx.to(device) if device is not None else idx


def gather_frames(video: torch.Tensor, indices: torch.Tensor, frame_dim: int = 2) -> torch.Tensor:
    """Select frames of a batch of videos: -> (B * l, ...) video-major.

    ``frame_dim=2`` for latents (B, C, F, h, w) -> (B*l, C, h, w); ``frame_dim=1`` for pixel videos
    (B, F, C, H, W) -> (B*l, C, H, W) (e.g. real frames of V when no image set is given).
    """
    if indices.ndim != 2 or indices.shape[0] != video.shape[0]:
        raise ValueError(f"indices must be (B={video.shape[0]}, l); got {tuple(indices.shape)}")
    if frame_dim not in (1, 2) or video.ndim != 5:
        raise ValueError(f"video must be 5-D with frame_dim 1 or 2; got shape {tuple(video.shape)}, {frame_dim}")
    frames_first = video if frame_dim == 1 else video.transpose(1, 2)  # (B, F, C, h, w)
    num_frames = frames_first.shape[1]
    if indices.min() < 0 or indices.max() >= num_frames:
        raise ValueError(f"indices must lie in [0, {num_frames}); got range [{int(indices.min())}, {int(indices.max())}]")
    batch = torch.arange(video.shape[0], device=video.device).view(-1, 1)
    picked = frames_first[batch, indices.to(video.device)]  # (B, l, C, h, w)
    return picked.reshape(-1, *picked.shape[2:])


def decode_sparse_frames(decode_fn: DecodeFn, latents: torch.Tensor, indices: torch.Tensor,
                         chunk_size: Optional[int] = None) -> torch.Tensor:
    """Decode only the chosen frames: latents (B, C, F, h, w), indices (B, l) -> images (B*l, 3, H, W).

    ``decode_fn`` maps latents (N, C, h, w) to images (N, 3, H, W) (e.g. ``vae.decode(z / scale).sample``);
    it is called once, or once per ``chunk_size`` frames. Gradients flow to ``latents``.
    """
    if latents.ndim != 5:
        raise ValueError(f"latents must be (B, C, F, h, w); got shape {tuple(latents.shape)}")
    frames = gather_frames(latents, indices, frame_dim=2)
    if chunk_size is None or chunk_size >= frames.shape[0]:
        return decode_fn(frames)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size} must be >= 1")
    return torch.cat([decode_fn(c) for c in torch.split(frames, chunk_size, dim=0)], dim=0)


def repeat_per_frame(embeds: torch.Tensor, l: int) -> torch.Tensor:
    """Per-video embeddings (B, D) -> per-frame (B*l, D), matching the video-major frame order."""
    return embeds.repeat_interleave(l, dim=0)
