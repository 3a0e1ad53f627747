"""A motion-sensitive video feature: log temporal power spectra of pooled grey frames.

I3D-FVD is biased toward per-frame content and barely reacts to temporal corruption (method notes,
"Evaluation facts"). This weight-free feature sees only how pixels change over time:

1. take ``num_frames`` frames, convert to grey, area-pool to ``grid x grid`` -> x (T, G, G);
2. remove each pixel's temporal mean (per-frame content that does not move is discarded);
3. power spectrum along time, |rfft_t(x)|^2, without the DC bin -> (T//2, G, G);
4. average over ``blocks x blocks`` spatial cells and take log(power + eps) -> (blocks^2 * T//2,).

Smooth motion puts energy in low temporal frequencies; shuffled or flickering frames spread it to high
ones, while every individual frame (and so FID) is unchanged. The Fréchet distance of these features
between generated and reference videos is reported as "Motion FD".
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from mcm.eval.config import MotionConfig
from mcm.eval.frames import as_video_list, clip_indices

#: ITU-R BT.601 luma weights for RGB -> grey.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


class MotionFeatures:
    """Callable: videos (N, F, C, H, W) in [0, 1] (or a list) -> features (N, blocks^2 * (T // 2))."""

    def __init__(self, cfg: MotionConfig, device: str | torch.device = "cpu") -> None:
        self.cfg = cfg
        self.device = torch.device(device)
        self.dim = cfg.blocks * cfg.blocks * (cfg.num_frames // 2)

    def _grey_grid(self, video: torch.Tensor) -> torch.Tensor:
        """(F, C, H, W) -> (T, G, G) grey, area-pooled."""
        idx = clip_indices(video.shape[0], self.cfg.num_frames, self.cfg.clip_sampling)
        frames = video[idx].to(self.device, torch.float32)
        if frames.shape[1] == 3:
            w = torch.tensor(LUMA_WEIGHTS, device=frames.device).view(1, 3, 1, 1)
            frames = (frames * w).sum(dim=1, keepdim=True)
        elif frames.shape[1] != 1:
            raise ValueError(f"videos must have 1 or 3 channels, got {frames.shape[1]}")
        return F.adaptive_avg_pool2d(frames, self.cfg.grid)[:, 0]

    @torch.inference_mode()
    def __call__(self, videos: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.stack([self._grey_grid(v) for v in as_video_list(videos)])  # (N, T, G, G)
        x = x - x.mean(dim=1, keepdim=True)
        power = torch.fft.rfft(x, dim=1).abs().square()[:, 1 : 1 + self.cfg.num_frames // 2]  # (N, K, G, G)
        power = F.adaptive_avg_pool2d(power, self.cfg.blocks)  # (N, K, B, B)
        return torch.log(power + self.cfg.log_eps).flatten(1).float()
