"""Motion representations M(.) of the motion consistency distillation loss (Eq. 6, Section 3.2, Table 5).

Every representation maps video latents (B, C, F, H, W) to a tensor that the MCD distance compares:

=============  ==========================================================  =========================
name           M(x)                                                         output shape
=============  ==========================================================  =========================
``raw``        x (the LCM baseline, Eq. 3)                                  (B, C, F, H, W)
``diff``       x[:, :, 1:] - x[:, :, :-1] (consecutive-frame difference)    (B, C, F-1, H, W)
``corr``       cost volume of consecutive frames, local (radius r) or       (B, (2r+1)^2, F-1, H, W)
               global (all position pairs); dot products / sqrt(C)          (B, H*W, F-1, H, W)
``lowfreq``    Re IFFT3(FFT3(x) * B_low) over (t, h, w), Butterworth        (B, C, F, H, W)
``highfreq``   x - lowfreq(x) = Re IFFT3(FFT3(x) * (1 - B_low))             (B, C, F, H, W)
``learnable``  x + head(x), per-frame head of Fig. 4 with an EMA target     (B, C, F, H, W)
=============  ==========================================================  =========================

Build one by name with :func:`build_motion_representation`. ``rep(latents)`` is M applied to the student
prediction (with gradients); ``rep(latents, target=True)`` is M for the target branch (the EMA head for
``learnable``; the same function for the handcrafted ones).
"""

from __future__ import annotations

from typing import Callable, ClassVar, Optional

import torch
import torch.nn.functional as F
from torch import nn

from mcm.motion.config import MotionConfig
from mcm.motion.head import EMAMotionHead, collapse_statistic

DEFAULT_LATENT_CHANNELS = 4


def _check_video(latents: torch.Tensor, min_frames: int, name: str) -> None:
    if latents.ndim != 5:
        raise ValueError(f"motion {name!r} expects latents (B, C, F, H, W); got shape {tuple(latents.shape)}")
    if latents.shape[2] < min_frames:
        raise ValueError(
            f"motion {name!r} needs at least {min_frames} frames; got F={latents.shape[2]} in {tuple(latents.shape)}"
        )


# --- handcrafted representations (pure functions) -------------------------------------------------------


def latent_difference(latents: torch.Tensor) -> torch.Tensor:
    """Consecutive-frame difference x_{f+1} - x_f: (B, C, F, H, W) -> (B, C, F-1, H, W)."""
    _check_video(latents, 2, "diff")
    return latents[:, :, 1:] - latents[:, :, :-1]


CORR_NORMALISATIONS = ("scaled_dot", "cosine")


def _normalise_channels(x: torch.Tensor, normalisation: str, eps: float) -> torch.Tensor:
    """Per-position channel vectors (dim 1) prepared so that their dot product is the correlation.

    ``scaled_dot`` (the paper: "pairwise dot products"; the authors scale them by 1/sqrt(C), as attention
    does): each factor is multiplied by C^(-1/4), so <a, b> comes out divided by sqrt(C) and the volume keeps
    the latents' magnitude. ``cosine``: L2-normalised vectors (zero vectors stay zero); blind to magnitude.
    """
    if normalisation == "scaled_dot":
        return x * x.shape[1] ** -0.25
    if normalisation == "cosine":
        return x / x.norm(dim=1, keepdim=True).clamp_min(eps)
    raise ValueError(f"corr_normalisation={normalisation!r} must be one of {CORR_NORMALISATIONS}")


def local_correlation(latents: torch.Tensor, radius: int = 7, eps: float = 1e-6,
                      normalisation: str = "scaled_dot") -> torch.Tensor:
    """Local cost volume between consecutive frames: (B, C, F, H, W) -> (B, (2r+1)^2, F-1, H, W).

    ``out[b, k, f, y, x] = <a(y, x), b(y + dy, x + dx)> / sqrt(C)`` with ``a``, ``b`` frames f and f+1
    (``normalisation='cosine'``: of the L2-normalised channel vectors, in [-1, 1]); displacement
    ``k = (dy + r) * (2r + 1) + (dx + r)`` for dy, dx in [-r, r]. Positions outside frame f+1 are zero
    (correlation 0). If frame f+1 is frame f moved by (ky, kx) pixels, the volume peaks at (dy, dx) = (ky, kx).
    """
    _check_video(latents, 2, "corr")
    if radius < 0:
        raise ValueError(f"corr_radius={radius} must be >= 0")
    b, c, f, h, w = latents.shape
    unit = _normalise_channels(latents, normalisation, eps)
    cur = unit[:, :, :-1]  # (B, C, F-1, H, W)
    nxt = F.pad(unit[:, :, 1:], (radius, radius, radius, radius))  # (B, C, F-1, H+2r, W+2r)
    side = 2 * radius + 1
    vols = []
    for dy in range(side):
        for dx in range(side):
            vols.append((cur * nxt[..., dy:dy + h, dx:dx + w]).sum(dim=1))
    return torch.stack(vols, dim=1)


def global_correlation(latents: torch.Tensor, eps: float = 1e-6, normalisation: str = "scaled_dot") -> torch.Tensor:
    """Global 4D cost volume between consecutive frames: (B, C, F, H, W) -> (B, H*W, F-1, H, W).

    ``out[b, q, f, y, x] = <a(y, x), b(q)> / sqrt(C)`` for every position q = (qy * W + qx) of frame f+1,
    with the normalisation of :func:`local_correlation`. Memory grows as (H*W)^2 per frame pair.
    """
    _check_video(latents, 2, "corr")
    b, c, f, h, w = latents.shape
    unit = _normalise_channels(latents, normalisation, eps)
    cur = unit[:, :, :-1].flatten(3)  # (B, C, F-1, HW)
    nxt = unit[:, :, 1:].flatten(3)
    vol = torch.einsum("bcfp,bcfq->bqfp", cur, nxt)  # (B, HW_next, F-1, HW_cur)
    return vol.reshape(b, h * w, f - 1, h, w)


def butterworth_lowpass(shape: tuple[int, int, int], cutoff: float, order: int,
                        device: torch.device | None = None) -> torch.Tensor:
    """3D Butterworth low-pass transfer function on the FFT grid of (F, H, W): values in (0, 1].

    Frequency normalisation: along each axis the FFT bin frequency is ``2 * torch.fft.fftfreq(n)``, i.e.
    cycles per sample divided by the Nyquist frequency 0.5, in [-1, 1) (0 = DC, +-1 = Nyquist). With
    ``d = sqrt(ft^2 + fh^2 + fw^2)`` (so d in [0, sqrt(3)]) the filter is ``1 / (1 + (d / cutoff)^(2 order))``,
    as in FreeInit [69] (cut-off 0.25, order 4). It is 1 at DC and 1/2 at d = cutoff.
    """
    if cutoff <= 0:
        raise ValueError(f"fft_cutoff={cutoff} must be > 0")
    if order < 1:
        raise ValueError(f"butterworth_order={order} must be >= 1")
    axes = [2.0 * torch.fft.fftfreq(n, device=device, dtype=torch.float32) for n in shape]
    ft, fh, fw = torch.meshgrid(*axes, indexing="ij")
    d_sq = ft**2 + fh**2 + fw**2
    return 1.0 / (1.0 + (d_sq / cutoff**2) ** order)


def frequency_component(latents: torch.Tensor, cutoff: float = 0.25, order: int = 4,
                        part: str = "low") -> torch.Tensor:
    """Low- or high-frequency part of latents (B, C, F, H, W) by a 3D FFT over (t, h, w).

    ``low = Re IFFT3(FFT3(x) * B)`` and ``high = Re IFFT3(FFT3(x) * (1 - B))`` with ``B`` from
    :func:`butterworth_lowpass`, so ``low + high = x``. Computed in float32, returned in x's dtype.
    """
    _check_video(latents, 1, f"{part}freq")
    if part not in ("low", "high"):
        raise ValueError(f"part={part!r} must be 'low' or 'high'")
    x = latents.float()
    mask = butterworth_lowpass(tuple(x.shape[2:]), cutoff, order, device=x.device)
    if part == "high":
        mask = 1.0 - mask
    spec = torch.fft.fftn(x, dim=(-3, -2, -1))
    out = torch.fft.ifftn(spec * mask, dim=(-3, -2, -1)).real
    return out.to(latents.dtype)


# --- the MotionRepresentation interface and its registry ------------------------------------------------


class MotionRepresentation(nn.Module):
    """M(.) of Eq. (6): ``rep(latents, target=False)`` maps (B, C, F, H, W) to the compared tensor.

    Handcrafted representations have no state; :meth:`trainable_modules` is empty, :meth:`ema_update` a
    no-op and ``target=True`` applies the same function.
    """

    name: ClassVar[str] = ""

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def trainable_modules(self) -> dict[str, nn.Module]:
        """Modules to optimise with the student (name -> module); empty for handcrafted M."""
        return {}

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters of :meth:`trainable_modules` (never the EMA target's)."""
        return [p for m in self.trainable_modules().values() for p in m.parameters()]

    def ema_update(self) -> None:
        """Move the target copy toward the online module (no-op without one)."""

    def collapse_statistic(self, latents: torch.Tensor) -> Optional[torch.Tensor]:
        """Output/input variance ratio of M on ``latents`` (None when M cannot collapse)."""
        return None


class RawMotion(MotionRepresentation):
    """M(x) = x: the LCM baseline."""

    name = "raw"

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:
        return latents


class DiffMotion(MotionRepresentation):
    """M(x) = consecutive-frame latent difference (:func:`latent_difference`)."""

    name = "diff"

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:
        return latent_difference(latents)


class CorrMotion(MotionRepresentation):
    """M(x) = cost volume of consecutive frames (dot products / sqrt(C)), local (radius r) or global."""

    name = "corr"

    def __init__(self, mode: str = "local", radius: int = 7, eps: float = 1e-6, normalisation: str = "scaled_dot"):
        super().__init__()
        if mode not in ("local", "global"):
            raise ValueError(f"corr_mode={mode!r} must be 'local' or 'global'")
        if normalisation not in CORR_NORMALISATIONS:
            raise ValueError(f"corr_normalisation={normalisation!r} must be one of {CORR_NORMALISATIONS}")
        self.mode, self.radius, self.eps, self.normalisation = mode, radius, eps, normalisation

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:
        if self.mode == "local":
            return local_correlation(latents, self.radius, self.eps, self.normalisation)
        return global_correlation(latents, self.eps, self.normalisation)


class FrequencyMotion(MotionRepresentation):
    """M(x) = low- or high-frequency part of a 3D Butterworth split (:func:`frequency_component`)."""

    def __init__(self, part: str, cutoff: float = 0.25, order: int = 4):
        super().__init__()
        if part not in ("low", "high"):
            raise ValueError(f"part={part!r} must be 'low' or 'high'")
        self.part, self.cutoff, self.order = part, cutoff, order
        self.name = f"{part}freq"  # type: ignore[misc]

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:
        return frequency_component(latents, self.cutoff, self.order, self.part)


class LearnableMotion(MotionRepresentation):
    """M(x) = x + head(x), Fig. 4; the target branch uses the EMA head (see :mod:`mcm.motion.head`).

    State dict keys: ``head.online.*`` and ``head.target.*`` (save both in every checkpoint).
    """

    name = "learnable"

    def __init__(self, channels: int, hidden_channels: int = 64, norm_groups: int = 32,
                 norm_eps: float = 1e-5, ema_decay: float = 0.95):
        super().__init__()
        self.head = EMAMotionHead(channels, hidden_channels, norm_groups, norm_eps, ema_decay)

    def forward(self, latents: torch.Tensor, target: bool = False) -> torch.Tensor:
        return self.head(latents, target=target)

    def trainable_modules(self) -> dict[str, nn.Module]:
        return {"motion_head": self.head.online}

    def ema_update(self) -> None:
        self.head.ema_update()

    def collapse_statistic(self, latents: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return collapse_statistic(latents, self.head.online(latents))


MotionBuilder = Callable[[MotionConfig, int], MotionRepresentation]

MOTION_REGISTRY: dict[str, MotionBuilder] = {
    "raw": lambda cfg, ch: RawMotion(),
    "diff": lambda cfg, ch: DiffMotion(),
    "corr": lambda cfg, ch: CorrMotion(cfg.corr_mode, cfg.corr_radius, cfg.corr_eps, cfg.corr_normalisation),
    "lowfreq": lambda cfg, ch: FrequencyMotion("low", cfg.fft_cutoff, cfg.butterworth_order),
    "highfreq": lambda cfg, ch: FrequencyMotion("high", cfg.fft_cutoff, cfg.butterworth_order),
    "learnable": lambda cfg, ch: LearnableMotion(
        ch, cfg.hidden_channels, cfg.norm_groups, cfg.norm_eps, cfg.ema_decay
    ),
}


def register_motion_representation(name: str, builder: MotionBuilder) -> None:
    """Add a representation to the registry (``builder(config, latent_channels)``)."""
    if name in MOTION_REGISTRY:
        raise ValueError(f"motion representation name={name!r} is already registered")
    MOTION_REGISTRY[name] = builder


def build_motion_representation(config: MotionConfig | None = None,
                                latent_channels: int = DEFAULT_LATENT_CHANNELS,
                                seed: Optional[int] = None) -> MotionRepresentation:
    """Build M(.) named by ``config.name`` for latents with ``latent_channels`` channels.

    ``seed``: initialise the learnable head from this seed alone, without reading or advancing the global RNG,
    so every rank builds the same head whatever it drew before (like the LoRA's seeded init)."""
    config = config or MotionConfig()
    if config.name not in MOTION_REGISTRY:
        raise ValueError(f"motion.name={config.name!r} is unknown; choose one of {sorted(MOTION_REGISTRY)}")
    if latent_channels < 1:
        raise ValueError(f"latent_channels={latent_channels} must be >= 1")
    if seed is None:
        return MOTION_REGISTRY[config.name](config, latent_channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MOTION_REGISTRY[config.name](config, latent_channels)
