"""Tiny, random, offline models and data for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn


def make_tiny_clip():
    """A random CLIPModel (image 32x32, width 16) and an in-memory character-level CLIP tokenizer."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    common = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1, **common),
        vision_config=dict(image_size=32, patch_size=8, **common),
        projection_dim=8,
    )
    torch.manual_seed(0)
    return CLIPModel(cfg).eval(), tokenizer


class TinyFrameNet(nn.Module):
    """Stand-in for the FID Inception: uint8 (B, 3, H, W) -> (B, 16), like torchmetrics' custom extractors."""

    num_features = 16

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 16, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() - 128) / 128
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


def moving_textures(n: int, frames: int = 16, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Videos (n, F, 3, S, S) in [0, 1]: a smooth random texture translating with a per-video velocity."""
    g = torch.Generator().manual_seed(seed)
    big = 4 * size
    out = []
    for _ in range(n):
        tex = torch.rand(1, 3, big // 8, big // 8, generator=g)
        tex = torch.nn.functional.interpolate(tex, size=(big, big), mode="bicubic", align_corners=False)[0]
        vx, vy = (torch.randint(1, 4, (2,), generator=g) * (torch.randint(0, 2, (2,), generator=g) * 2 - 1)).tolist()
        x0, y0 = big // 2 - size // 2, big // 2 - size // 2
        clip = [tex[:, y0 + t * vy : y0 + t * vy + size, x0 + t * vx : x0 + t * vx + size] for t in range(frames)]
        out.append(torch.stack(clip))
    return torch.stack(out).clamp(0, 1)


def write_video(path: Path, video: torch.Tensor, fps: int = 8) -> Path:
    """Write (F, 3, H, W) in [0, 1] as a lossless-ish mp4 with PyAV."""
    import av

    arr = (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = arr.shape[2], arr.shape[1]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0"}
        for frame in arr:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def tiny_clip():
    return make_tiny_clip()


@pytest.fixture
def frame_net():
    """A fresh TinyFrameNet (FID stand-in)."""
    return TinyFrameNet()


@pytest.fixture(scope="session")
def textures():
    """The moving_textures(n, frames, size, seed) video maker."""
    return moving_textures


@pytest.fixture(scope="session")
def video_writer():
    """The write_video(path, video, fps) helper."""
    return write_video
