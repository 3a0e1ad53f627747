"""FID features of video frames: torchmetrics' InceptionV3 (torch-fidelity weights), 2048-d pool features.

Paper section 4.2 uses FID [ref. 20] for frame quality against an image set. We use torchmetrics'
``NoTrainInceptionV3`` (the torch-fidelity port of the TensorFlow FID Inception) and match torchmetrics'
preprocessing exactly: frames in [0, 1] -> ``(x * 255).byte()`` -> bilinear resize to 299 inside the network
-> (x - 128) / 128. The resize follows ``FIDConfig.antialias``: False (default) is torch-fidelity's
TensorFlow-1 compatible bilinear resize, i.e. the original TTUR FID that most published numbers use;
True is torchmetrics' antialiased resize. clean-fid's PIL bicubic resize is not matched.

Frame-sampling rule: ``frames_per_video`` evenly spaced frames (rounded linspace over the video), or every
frame when None. The Fréchet distance itself is :mod:`mcm.eval.frechet` (same formula as torchmetrics).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import nn

from mcm.eval.config import FIDConfig
from mcm.eval.frames import as_video_list, even_indices
from mcm.eval.weights import load_safetensors_weights

#: Inception pool feature dimension.
FID_FEATURE_DIM = 2048
#: Image suffixes read as reference images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def load_inception(weights: str | Path, antialias: bool = False, device: str = "cpu") -> nn.Module:
    """torchmetrics ``NoTrainInceptionV3`` (pool3, 2048-d) with weights from a local safetensors file.

    torch-fidelity reads its weights with a pickle loader; we never hand it a third-party pickle: the
    converted safetensors tensors are re-saved to a private temporary file that it reads back.
    """
    from torchmetrics.image.fid import NoTrainInceptionV3

    state = load_safetensors_weights(
        weights, "fid.weights", "convert torch-fidelity's weights-inception-2015-12-05 .pth once with "
        "`mcm convert inception SRC.pth DST.safetensors`",
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inception.pt"
        torch.save(state, path)
        net = NoTrainInceptionV3(
            name="inception-v3-compat",
            features_list=[str(FID_FEATURE_DIM)],
            feature_extractor_weights_path=str(path),
            antialias=antialias,
        )
    return net.to(device)


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """[0, 1] float -> uint8 the way torchmetrics does with normalize=True: ``(x * 255).byte()``."""
    return (frames.clamp(0, 1) * 255).byte()


class FIDFeatures:
    """Callable: videos (N, F, C, H, W) in [0, 1] -> Inception features of the sampled frames (M, D).

    ``network`` takes uint8 (B, 3, H, W) and returns (B, D) (a tuple's first item is used, as torchmetrics).
    """

    def __init__(self, network: nn.Module, cfg: FIDConfig, dim: int = FID_FEATURE_DIM, device: str = "cpu"):
        self.network = network.eval().to(device)
        self.cfg = cfg
        self.dim = dim
        self.device = torch.device(device)

    @classmethod
    def from_config(cls, cfg: FIDConfig, device: str = "cpu") -> "FIDFeatures":
        if cfg.weights is None:
            raise ValueError("fid.weights: give the InceptionV3 safetensors file")
        return cls(load_inception(cfg.weights, cfg.antialias, device), cfg, FID_FEATURE_DIM, device)

    def sample_frames(self, videos: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The frames FID sees: ``frames_per_video`` evenly spaced per video, each (C, H, W)."""
        out = []
        for v in as_video_list(videos):
            out += [v[i] for i in even_indices(v.shape[0], self.cfg.frames_per_video)]
        return out

    @torch.inference_mode()
    def images(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Features (M, D) of float images (C, H, W) in [0, 1]; images of equal size share a forward."""
        feats = []
        for batch in _same_size_batches(images, self.cfg.batch_size):
            out = self.network(to_uint8(torch.stack(batch).to(self.device)))
            out = out[0] if isinstance(out, (tuple, list)) else out
            feats.append(out.reshape(len(batch), -1).float())
        return torch.cat(feats)

    def __call__(self, videos: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        return self.images(self.sample_frames(videos))


def _same_size_batches(images: Sequence[torch.Tensor], batch_size: int) -> Iterable[list[torch.Tensor]]:
    """Consecutive runs of equally sized images, at most batch_size each."""
    batch: list[torch.Tensor] = []
    for img in images:
        if batch and (len(batch) == batch_size or batch[0].shape != img.shape):
            yield batch
            batch = []
        batch.append(img)
    if batch:
        yield batch


def read_images(folder: str | Path) -> list[torch.Tensor]:
    """Reference images of a folder (sorted by name) as (3, H, W) float in [0, 1]; unreadable files skipped."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"fid.reference_images is not a folder: {str(folder)!r}")
    out = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (OSError, UnidentifiedImageError):
            continue
        out.append(torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0)
    if not out:
        raise ValueError(f"fid.reference_images: no readable images in {str(folder)!r}")
    return out
