"""Fréchet distance between Gaussians fitted to features, with mergeable statistics (FVD and FID).

The implementation lives in :mod:`mcm.utils.frechet`, where the small world's evaluation networks also read it
(the world must not import ``mcm.eval``); this module keeps the evaluation's names.
"""

from __future__ import annotations

from mcm.utils.frechet import (
    SQRTM_EPS,
    FeatureStats,
    FrechetMethod,
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_from_stats,
)

__all__ = [
    "SQRTM_EPS",
    "FeatureStats",
    "FrechetMethod",
    "frechet_distance",
    "frechet_distance_from_features",
    "frechet_distance_from_stats",
]
