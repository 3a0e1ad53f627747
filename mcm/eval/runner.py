"""``mcm eval``: generate videos with every method spec and compute FVD, motion FD, CLIPSIM and FID.

With ``protocol: toy`` the small world's metrics (mcm.eval.toy: fvd_toy, prompt_acc, fid_toy, watermark,
sharpness, style, motion, collapse) replace them; generation, sharding, grid and report are shared.

Launch (one process per GPU; statistics are sums, merged across ranks exactly):

    mcm eval --config eval.yaml                              # one process
    torchrun --nproc-per-node 8 -m mcm.cli.main eval --config eval.yaml   # sharded

Video ``i`` (prompt ``i mod N``) is generated with seed ``seed + i`` by every method and on whichever rank
holds it (rank r takes i = r, r + W, ...), so the numbers do not depend on the number of ranks beyond
float summation order. Generation is batched (``batch_size`` prompts per call) under ``torch.inference_mode()``.

The generator contract (the sampler provides it): ``generator(prompts: list[str], seeds: list[int])`` returns
videos (N, F, C, H, W) float in [0, 1]. ``generator_factory(steps=, device=, **spec.generator)`` builds one per
method spec; the default factory is ``mcm.sampler.api.build_video_generator``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Optional

import torch

from mcm.eval.baseline_cache import BaselineCache
from mcm.eval.config import EvalConfig, MethodSpec
from mcm.eval.frechet import FeatureStats, frechet_distance_from_stats
from mcm.eval.grid import GRID_DIR, grid_file, slug  # noqa: F401  (GRID_DIR, slug: part of this module's API)
from mcm.eval.prompts import PromptSet, load_prompt_set
from mcm.eval.ranks import barrier, dist_info
from mcm.eval.suite import MetricSuite, reference_stats
from mcm.eval.toy import ToySuite

Generator = Callable[[list[str], list[int]], torch.Tensor]
GeneratorFactory = Callable[..., Generator]
METRICS_FILE = "metrics.json"
log = logging.getLogger(__name__)


def build_suite(cfg: EvalConfig) -> Any:
    """The suite of ``cfg.protocol``: MetricSuite (real extractors) or mcm.eval.toy.ToySuite (the world's)."""
    if cfg.protocol == "toy":
        from mcm.eval.toy import ToySuite

        return ToySuite.from_config(cfg)
    return MetricSuite.from_config(cfg)


def default_generator_factory(**kwargs: Any) -> Generator:
    """``mcm.sampler.api.build_video_generator``, imported only when an evaluation runs."""
    from mcm.sampler.api import build_video_generator

    return build_video_generator(**kwargs)


def _check_videos(videos: torch.Tensor, n: int, key: str) -> torch.Tensor:
    if not isinstance(videos, torch.Tensor) or videos.ndim != 5 or videos.shape[0] != n:
        shape = tuple(videos.shape) if isinstance(videos, torch.Tensor) else type(videos).__name__
        raise ValueError(f"generator of {key!r} must return (N={n}, F, C, H, W) videos, got {shape}")
    if not torch.isfinite(videos).all():
        raise ValueError(f"generator of {key!r} returned non-finite values")
    return videos.float().clamp(0.0, 1.0)


class RealAccumulator:
    """The real protocol's running statistics of one method spec (Fréchet features, CLIPSIM sums)."""

    def __init__(self, suite: MetricSuite, reference: dict[str, FeatureStats], cfg: EvalConfig) -> None:
        self.suite, self.reference, self.cfg = suite, reference, cfg
        self.frechet = {n: FeatureStats(f.dim) for n, f in suite.frechet().items() if n in reference}
        self.clip = FeatureStats(1)

    def update(self, indices: list[int], prompts: list[str], videos: torch.Tensor) -> None:
        for name, stats in self.frechet.items():
            stats.update(getattr(self.suite, name)(videos))
        if self.suite.clipsim is not None:
            self.clip.update(self.suite.clipsim(videos, prompts).reshape(-1, 1))

    def finish(self) -> tuple[dict[str, Optional[float]], dict[str, Any]]:
        metrics: dict[str, Optional[float]] = {}
        for name, stats in self.frechet.items():
            stats.all_reduce()
            metrics[name] = frechet_distance_from_stats(stats, self.reference[name], self.cfg.frechet_method)
        if self.suite.clipsim is not None:
            self.clip.all_reduce()
            metrics["clipsim"] = float(self.clip.sum[0] / max(self.clip.n, 1)) * self.cfg.clipsim.scale
        return metrics, {}


def evaluate_method(
    spec: MethodSpec,
    generator: Generator,
    prompt_set: PromptSet,
    suite: Any,
    reference: dict[str, FeatureStats],
    cfg: EvalConfig,
) -> dict[str, Any]:
    """Generate this rank's share of videos for one spec, accumulate features, merge, compute metrics.

    ``suite`` is a MetricSuite (real protocol) or a mcm.eval.toy.ToySuite (toy protocol).
    """
    from mcm.eval.report import save_gif

    rank, world = dist_info()
    total = cfg.num_videos or len(prompt_set)
    mine = list(range(rank, total, world))
    if isinstance(suite, ToySuite):
        acc = suite.accumulator(prompt_set, reference, cfg)
    else:
        acc = RealAccumulator(suite, reference, cfg)
    gen_time = 0.0
    for start in range(0, len(mine), cfg.batch_size):
        idx = mine[start : start + cfg.batch_size]
        prompts = [prompt_set.prompts[i % len(prompt_set)] for i in idx]
        seeds = [cfg.seed + i for i in idx]
        t0 = time.perf_counter()
        with torch.inference_mode():
            videos = generator(prompts, seeds)
        gen_time += time.perf_counter() - t0
        videos = _check_videos(videos, len(idx), spec.key)
        acc.update(idx, prompts, videos)
        for j, i in enumerate(idx):
            if i < cfg.grid_prompts:
                save_gif(videos[j], cfg.out_dir / grid_file(spec, i), cfg.gif_fps)
    metrics, extra = acc.finish()
    return {
        "method": spec.method,
        "steps": spec.steps,
        "key": spec.key,
        "generator": spec.generator,
        "metrics": metrics,
        "num_videos": total,
        "videos_per_s_per_rank": len(mine) / gen_time if gen_time > 0 else None,
        "grid_files": [grid_file(spec, i) for i in range(min(cfg.grid_prompts, total))],
        **extra,
    }


def run_evaluation(
    cfg: EvalConfig,
    generator_factory: GeneratorFactory | None = None,
    suite: MetricSuite | ToySuite | None = None,
) -> dict[str, Any]:
    """Evaluate every method spec; rank 0 writes ``metrics.json`` and ``report.html`` into ``cfg.out_dir``.

    ``suite`` defaults to the one of ``cfg.protocol`` (build_suite). Returns the metrics document
    (on every rank).
    """
    from mcm.eval.report import protocol_statement, write_report

    factory = generator_factory or default_generator_factory
    rank, world = dist_info()
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    prompt_set = load_prompt_set(cfg.prompts)
    suite = suite if suite is not None else build_suite(cfg)
    if isinstance(suite, ToySuite) != (cfg.protocol == "toy"):
        raise ValueError(f"protocol {cfg.protocol!r} needs a {'ToySuite' if cfg.protocol == 'toy' else 'MetricSuite'}")
    skipped: list[str] = []
    if isinstance(suite, ToySuite):
        reference = suite.reference_stats(cfg, prompt_set, skipped)
    else:
        reference = reference_stats(suite, cfg, prompt_set, skipped)
    cache = BaselineCache(cfg, prompt_set)
    results = []
    for n, spec in enumerate(cfg.methods, 1):
        t0 = time.perf_counter()
        cached = cache.load(spec) if cache.applies(spec) else None
        if cached is not None:
            results.append(cached)
            log.info("eval [%d/%d] %s: cached teacher baseline (%s)", n, len(cfg.methods), spec.key,
                     cached["cache"]["key"])
            continue
        generator = factory(steps=spec.steps, device=cfg.device, **spec.generator)
        results.append(evaluate_method(spec, generator, prompt_set, suite, reference, cfg))
        del generator
        if cache.applies(spec) and rank == 0:
            cache.store(spec, results[-1])
        log.info("eval [%d/%d] %s: %d videos in %.1f s", n, len(cfg.methods), spec.key, results[-1]["num_videos"],
                 time.perf_counter() - t0)
    grid = list(range(min(cfg.grid_prompts, cfg.num_videos or len(prompt_set))))
    doc = {
        "evaluation_protocol": cfg.protocol,
        "config": cfg.model_dump(mode="json"),
        "protocol": protocol_statement(cfg, suite, reference),
        "prompt_set": {
            "name": prompt_set.name,
            "num_prompts": len(prompt_set),
            "num_reference_videos": len(prompt_set.reference_videos),
            "skipped_reference_videos_rank0": skipped,
        },
        "world_size": world,
        "results": results,
        "grid": {"indices": grid, "prompts": [prompt_set.prompts[i % len(prompt_set)] for i in grid],
                 "seeds": [cfg.seed + i for i in grid]},
    }
    if rank == 0:
        (cfg.out_dir / METRICS_FILE).write_text(json.dumps(doc, indent=2) + "\n")
        write_report(doc, cfg.out_dir)
    barrier()
    return doc
