"""The feature extractors of one evaluation, and the reference statistics they are compared against.

Metric names: ``fvd`` (I3D logits), ``motion_fd`` (temporal spectra), ``fid`` (Inception pool of frames)
are Fréchet distances against reference statistics; ``clipsim`` is a mean over videos (x100).
Reference statistics are cached per reference set in ``<cache>/<set>-<metric>-<hash>.safetensors``, the
hash covering the metric's protocol and the reference files, so a changed protocol never reuses a cache.
``build_suite`` picks the suite of ``EvalConfig.protocol``: this module's MetricSuite ("real") or
mcm.eval.toy.ToySuite ("toy", which reuses the cache layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from mcm.eval.config import EvalConfig
from mcm.eval.frechet import FeatureStats
from mcm.eval.prompts import PromptSet, iter_reference_videos
from mcm.eval.ranks import barrier, dist_info
from mcm.eval.reference_cache import file_fingerprint, reference_cache_path

FRECHET_METRICS = ("fvd", "motion_fd", "fid")
VideoFeatures = Callable[[Any], torch.Tensor]


@dataclass
class MetricSuite:
    """Extractors; None disables a metric. Each Fréchet extractor has ``dim`` and maps videos -> (M, dim)."""

    fvd: Optional[VideoFeatures] = None
    motion_fd: Optional[VideoFeatures] = None
    fid: Optional[VideoFeatures] = None
    clipsim: Optional[Callable[[Any, list[str]], torch.Tensor]] = None

    @classmethod
    def from_config(cls, cfg: EvalConfig) -> "MetricSuite":
        """Load every enabled extractor from the local paths in ``cfg``."""
        from mcm.eval.clipsim import CLIPSim
        from mcm.eval.fid import FIDFeatures
        from mcm.eval.fvd import FVDFeatures
        from mcm.eval.motion import MotionFeatures

        c = cfg.clipsim
        return cls(
            fvd=FVDFeatures.from_config(cfg.fvd, cfg.device) if cfg.fvd.enabled else None,
            motion_fd=MotionFeatures(cfg.motion, cfg.device) if cfg.motion.enabled else None,
            fid=FIDFeatures.from_config(cfg.fid, cfg.device) if cfg.fid.enabled else None,
            clipsim=CLIPSim.from_pretrained(c.model, c.local_files_only, c.batch_size, cfg.device)
            if c.enabled
            else None,
        )

    def frechet(self) -> dict[str, VideoFeatures]:
        return {name: getattr(self, name) for name in FRECHET_METRICS if getattr(self, name) is not None}


def _protocol(cfg: EvalConfig, name: str) -> dict[str, Any]:
    section = {"fvd": cfg.fvd, "motion_fd": cfg.motion, "fid": cfg.fid}[name]
    return section.model_dump(mode="json", exclude={"batch_size", "enabled"})


def reference_description(cfg: EvalConfig, name: str, prompt_set: PromptSet) -> dict[str, Any]:
    """What a cached reference statistic depends on (its hash is the cache key)."""
    desc: dict[str, Any] = {"metric": name, "protocol": _protocol(cfg, name), "set": prompt_set.name}
    if name == "fid" and cfg.fid.reference_images is not None:
        folder = Path(cfg.fid.reference_images)
        desc["images"] = file_fingerprint(sorted(folder.iterdir())) if folder.is_dir() else str(folder)
    else:
        desc["videos"] = file_fingerprint(prompt_set.reference_videos)
    return desc


def _max_frames(cfg: EvalConfig, names: list[str]) -> Optional[int]:
    """Frames to decode from each reference video (None: all, when a rule needs the full length)."""
    needs = []
    for name in names:
        if name == "fvd":
            needs.append(cfg.fvd.num_frames if cfg.fvd.clip_sampling == "first" else None)
        elif name == "motion_fd":
            needs.append(cfg.motion.num_frames if cfg.motion.clip_sampling == "first" else None)
        else:
            needs.append(None)
    return None if any(n is None for n in needs) else max(needs)


def reference_stats(
    suite: MetricSuite, cfg: EvalConfig, prompt_set: PromptSet, skipped: list[str]
) -> dict[str, FeatureStats]:
    """Reference statistics per Fréchet metric: from cache, else computed (sharded over ranks) and cached.

    Metrics without reference data (no videos, no images) are left out of the result.
    """
    from mcm.eval.fid import read_images

    rank, world = dist_info()
    out: dict[str, FeatureStats] = {}
    todo: dict[str, tuple[Path, dict[str, Any]]] = {}
    for name, extractor in suite.frechet().items():
        desc = reference_description(cfg, name, prompt_set)
        path = reference_cache_path(cfg, name, desc, prompt_set.name)
        if path.is_file():
            out[name] = FeatureStats.load(path)
        else:
            todo[name] = (path, desc)
    image_fid = "fid" in todo and cfg.fid.reference_images is not None
    video_names = [n for n in todo if not (n == "fid" and image_fid)]
    stats = {name: FeatureStats(suite.frechet()[name].dim) for name in todo}
    if image_fid:
        images = read_images(cfg.fid.reference_images)[rank::world]
        stats["fid"].update(suite.fid.images(images))
    if video_names and prompt_set.reference_videos:
        paths = prompt_set.reference_videos[rank::world]
        for video in iter_reference_videos(paths, _max_frames(cfg, video_names), skipped):
            for name in video_names:
                stats[name].update(suite.frechet()[name](video.unsqueeze(0)))
    for name, (path, desc) in todo.items():
        stats[name].all_reduce()
        if stats[name].n >= 2:
            out[name] = stats[name]
            if rank == 0:
                stats[name].save(path, desc)
    barrier()
    return out
