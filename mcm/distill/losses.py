"""Distances d(., .) of the consistency-distillation loss (Eq. 3)."""

from __future__ import annotations

import torch


def pseudo_huber(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """Elementwise sqrt((a - b)^2 + c^2) - c, averaged (the authors' and diffusers' form)."""
    diff = (a.float() - b.float()) ** 2
    return (torch.sqrt(diff + c**2) - c).mean()


def pseudo_huber_norm(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """sqrt(||a - b||_2^2 + c^2) - c per sample, averaged over the batch (Eq. 3 as the paper writes it)."""
    sq = ((a.float() - b.float()) ** 2).flatten(1).sum(dim=1)
    return (torch.sqrt(sq + c**2) - c).mean()


def mse(a: torch.Tensor, b: torch.Tensor, c: float = 0.0) -> torch.Tensor:
    """Mean squared error (``c`` unused, for a uniform signature)."""
    return ((a.float() - b.float()) ** 2).mean()


DISTANCES = {"pseudo_huber": pseudo_huber, "pseudo_huber_norm": pseudo_huber_norm, "l2": mse}


def consistency_distance(name: str, a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """d(a, b) of Eq. (3) by name (see ``DistillConfig.distance``)."""
    if name not in DISTANCES:
        raise ValueError(f"distill.distance={name!r} is unknown; choose one of {sorted(DISTANCES)}")
    return DISTANCES[name](a, b, c)
