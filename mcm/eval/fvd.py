"""FVD features: I3D Kinetics-400 logits of preprocessed 16-frame clips [paper ref. 59].

Protocol (fields of :class:`mcm.eval.config.FVDConfig`, stated in the report): pick ``num_frames`` frames
(``clip_sampling``), resize to ``resolution`` (``resize_mode``, bilinear), map [0, 1] -> [-1, 1], run I3D,
keep the 400 logits. The Fréchet distance of these features between generated and reference clips is FVD.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from mcm.eval.config import FVDConfig
from mcm.eval.frames import as_video_list, clip_indices, resize_frames
from mcm.eval.i3d import NUM_KINETICS_CLASSES, TorchScriptI3D, load_i3d


def preprocess_clip(video: torch.Tensor, cfg: FVDConfig) -> torch.Tensor:
    """(F, C, H, W) in [0, 1] -> (C, T, S, S) in [-1, 1] with T = num_frames, S = resolution."""
    idx = clip_indices(video.shape[0], cfg.num_frames, cfg.clip_sampling)
    frames = resize_frames(video[idx].float(), cfg.resolution, cfg.resize_mode)
    return (frames * 2.0 - 1.0).permute(1, 0, 2, 3)


class FVDFeatures:
    """Callable: videos (N, F, C, H, W) in [0, 1] (or a list of (F, C, H, W)) -> I3D logits (N, 400)."""

    dim = NUM_KINETICS_CLASSES

    def __init__(self, network: nn.Module, cfg: FVDConfig, device: str | torch.device = "cpu") -> None:
        self.network = network.eval().to(device)
        self.cfg = cfg
        self.device = torch.device(device)

    @classmethod
    def from_config(cls, cfg: FVDConfig, device: str | torch.device = "cpu") -> "FVDFeatures":
        """Load the TorchScript file when ``cfg.torchscript`` is set, else the converted safetensors."""
        if cfg.torchscript is not None:
            return cls(TorchScriptI3D(cfg.torchscript, device), cfg, device)
        if cfg.weights is None:
            raise ValueError("fvd.weights: give an InceptionI3d safetensors file (or fvd.torchscript)")
        return cls(load_i3d(cfg.weights, device), cfg, device)

    @torch.inference_mode()
    def __call__(self, videos: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        clips = [preprocess_clip(v.to(self.device), self.cfg) for v in as_video_list(videos)]
        out = []
        for i in range(0, len(clips), self.cfg.batch_size):
            out.append(self.network(torch.stack(clips[i : i + self.cfg.batch_size])).float())
        feats = torch.cat(out)
        if feats.shape[1:] != (self.dim,):
            raise ValueError(f"I3D returned features of shape {tuple(feats.shape)}, expected (N, {self.dim})")
        return feats
