"""Evaluation: FVD (I3D), a motion-sensitive Fréchet distance, CLIPSIM, FID, and the ``mcm eval`` report.

Modules: ``frechet`` (distance and mergeable statistics), ``i3d`` (the FVD network), ``fvd``, ``motion``,
``clipsim``, ``fid`` (feature extractors), ``prompts`` (prompt sets), ``suite`` (extractors + reference
statistics), ``runner`` (generation and metrics), ``report`` (metrics.json companion HTML), ``convert``.
"""

from mcm.eval.config import EvalConfig, MethodSpec, load_eval_config
from mcm.eval.frechet import FeatureStats, frechet_distance, frechet_distance_from_stats

__all__ = [
    "EvalConfig",
    "FeatureStats",
    "MethodSpec",
    "frechet_distance",
    "frechet_distance_from_stats",
    "load_eval_config",
]
