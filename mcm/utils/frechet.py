"""Fréchet distance between Gaussians fitted to features, with mergeable statistics.

A neutral module used by both the evaluation (``mcm.eval.frechet`` re-exports it) and the small world's own
evaluation networks (``mcm.world.evalnets``): ``mcm.eval`` may import ``mcm.world``, never the reverse.

FVD [paper ref. 59] and FID [paper ref. 20] (paper section 4, "Evaluation metrics") are both

    FD = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^(1/2)),

computed here in float64. ``tr((S_1 S_2)^(1/2))`` is taken either from the eigenvalues of the symmetric
PSD matrix ``S_1^(1/2) S_2 S_1^(1/2)`` (method ``"eigh"``, default: stable, always real, finite on singular
covariances; numpy only) or from ``scipy.linalg.sqrtm`` (method ``"sqrtm"``, the pytorch-fid / StyleGAN-V
reference: the real part is taken and ``eps`` is added to the diagonals when the result is not finite; scipy,
the ``eval`` extra, is imported only then).

:class:`FeatureStats` keeps sums (count, sum of features, sum of outer products) rather than features, so
statistics from several ranks, batches or cached reference files merge exactly by addition.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FrechetMethod = Literal["eigh", "sqrtm"]

#: Added to the covariance diagonals when scipy's sqrtm returns a non-finite result (pytorch-fid's value).
SQRTM_EPS = 1e-6
#: Keys of a statistics file.
_COUNT_KEY, _SUM_KEY, _OUTER_KEY = "count", "sum", "outer"
#: Metadata key holding a JSON description of how the statistics were made.
_META_KEY = "description"


class FeatureStats:
    """Running first and second moments of D-dimensional features, in float64.

    State: ``count`` (scalar, int64), ``sum`` (D,), ``outer`` (D, D) = sum of x x^T. Merging adds the three.
    """

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"FeatureStats: dim must be >= 1, got {dim}")
        self.dim = dim
        self.count = torch.zeros((), dtype=torch.int64)
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, features: torch.Tensor) -> None:
        """Add a batch of features (N, D) (any float dtype, any device)."""
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"features must have shape (N, {self.dim}), got {tuple(features.shape)}")
        x = features.detach().to("cpu", torch.float64)
        self.count += x.shape[0]
        self.sum += x.sum(dim=0)
        self.outer += x.T @ x

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add ``other``'s sums into these (in place) and return self."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dim {other.dim} into dim {self.dim}")
        self.count += other.count
        self.sum += other.sum
        self.outer += other.outer
        return self

    def all_reduce(self) -> "FeatureStats":
        """Sum the statistics over all ranks when torch.distributed is initialised (no-op otherwise)."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return self
        backend = torch.distributed.get_backend()
        device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
        for name in ("count", "sum", "outer"):
            t = getattr(self, name).to(device)
            torch.distributed.all_reduce(t)
            setattr(self, name, t.cpu())
        return self

    @property
    def n(self) -> int:
        return int(self.count.item())

    def mean(self) -> np.ndarray:
        """Feature mean (D,) in float64."""
        if self.n < 1:
            raise ValueError("FeatureStats.mean: no samples were added")
        return (self.sum / self.n).numpy()

    def cov(self) -> np.ndarray:
        """Unbiased covariance (D, D) in float64 (the np.cov convention used by FID/FVD code)."""
        n = self.n
        if n < 2:
            raise ValueError(f"FeatureStats.cov: needs at least 2 samples, got {n}")
        mu = self.sum / n
        cov = (self.outer - n * torch.outer(mu, mu)) / (n - 1)
        cov = 0.5 * (cov + cov.T)
        return cov.numpy()

    def save(self, path: str | Path, description: dict | None = None) -> None:
        """Write the sums to a safetensors file; ``description`` (JSON-able) goes into its metadata."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {_COUNT_KEY: self.count.reshape(1), _SUM_KEY: self.sum, _OUTER_KEY: self.outer}
        save_file(tensors, str(path), metadata={_META_KEY: json.dumps(description or {}, sort_keys=True)})

    @classmethod
    def load(cls, path: str | Path) -> "FeatureStats":
        """Read statistics written by :meth:`save`."""
        tensors = load_file(str(path))
        missing = {_COUNT_KEY, _SUM_KEY, _OUTER_KEY} - set(tensors)
        if missing:
            raise ValueError(f"statistics file {path} lacks keys {sorted(missing)}")
        stats = cls(int(tensors[_SUM_KEY].shape[0]))
        stats.count = tensors[_COUNT_KEY].reshape(()).to(torch.int64)
        stats.sum = tensors[_SUM_KEY].to(torch.float64)
        stats.outer = tensors[_OUTER_KEY].to(torch.float64)
        return stats


def _trace_sqrt_product_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))): S1 S2 is similar to that PSD matrix."""
    w, v = np.linalg.eigh(sigma1)
    sqrt1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = sqrt1 @ sigma2 @ sqrt1
    ev = np.linalg.eigvalsh(0.5 * (m + m.T))
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    """The pytorch-fid recipe: scipy sqrtm, eps on the diagonals when not finite, real part."""
    import scipy.linalg  # the eval extra; the default "eigh" method needs numpy only

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    return float(np.real(np.trace(covmean)))


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: FrechetMethod = "eigh",
    eps: float = SQRTM_EPS,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); mu (D,), sigma (D, D); float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.shape[0],) * 2:
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, sigma2 {sigma2.shape}"
        )
    if method == "eigh":
        tr_sqrt = _trace_sqrt_product_eigh(sigma1, sigma2)
    elif method == "sqrtm":
        tr_sqrt = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    else:
        raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)


def frechet_distance_from_stats(a: FeatureStats, b: FeatureStats, method: FrechetMethod = "eigh") -> float:
    """Fréchet distance between the Gaussians fitted to two :class:`FeatureStats`."""
    return frechet_distance(a.mean(), a.cov(), b.mean(), b.cov(), method=method)


def frechet_distance_from_features(x: torch.Tensor, y: torch.Tensor, method: FrechetMethod = "eigh") -> float:
    """Fréchet distance between two feature sets x (N, D) and y (M, D)."""
    sx, sy = FeatureStats(x.shape[1]), FeatureStats(y.shape[1])
    sx.update(x)
    sy.update(y)
    return frechet_distance_from_stats(sx, sy, method=method)
