"""Training the evaluation networks: per-network losses, the training loop, and the resumable whole run.

Each network trains on the ``networks`` set only (seen combinations; no network ever sees a zero-shot
combination), deterministically for a seed and thread count. ``train_eval_networks`` keeps a network whose
folder is complete, so an interrupted run resumes; the fvd net starts from the trained frame net's weights.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from mcm.world.evalnets.config import (
    CONFIG_FILE,
    FORMAT_VERSION,
    NET_NAMES,
    REPORT_FILE,
    SIZE_HALF,
    SIZE_MID,
    SPEED_HALF,
    SPEED_MID,
    STYLED,
    TRAIN_ORDER,
    WEIGHTS_FILE,
    EvalNetTrainConfig,
)
from mcm.world.evalnets.layers import resize, resize_video
from mcm.world.evalnets.networks import (
    load_eval_networks,
    network_complete,
    num_parameters,
    seeded_network,
    write_network,
)
from mcm.world.evalnets.pool import Batch, BatchSampler, Pool, build_pool
from mcm.world.evalnets.report import evaluate_eval_networks, network_sizes, summary
from mcm.world.sets import WorldConfig
from mcm.world.spec import ATTRIBUTES


def _loss(name: str, model: nn.Module, b: Batch, pool: Pool) -> torch.Tensor:
    """Training loss of network ``name`` on a batch (inputs already at the pool's size)."""
    if name in ("watermark", "style"):
        target = b.watermark if name == "watermark" else (b.base == STYLED).float()
        return F.binary_cross_entropy_with_logits(model(resize(b.x)), target)
    labels = pool.labels[b.index]
    if name == "attributes":
        out = model(resize_video(b.x), frames=b.pick_frames, pairs=b.pick_pairs)
        return sum(F.cross_entropy(out[a], labels[:, k]) for k, a in enumerate(ATTRIBUTES))
    if name == "fvd":
        out = model(resize_video(b.x))
        ordered = 1.0 - b.shuffled
        direction = F.cross_entropy(out["direction"], labels[:, 2], reduction="none")
        speed = F.mse_loss(out["speed"].squeeze(1), (pool.speed[b.index] - SPEED_MID) / SPEED_HALF, reduction="none")
        return (
            F.cross_entropy(out["shape"], labels[:, 0]) + F.cross_entropy(out["colour"], labels[:, 1])
            + (direction * ordered).sum() / ordered.sum().clamp(min=1.0)
            + (speed * ordered).sum() / ordered.sum().clamp(min=1.0)
            + F.cross_entropy(out["look"], b.base)
            + F.binary_cross_entropy_with_logits(out["watermark"].squeeze(1), b.watermark)
            + F.binary_cross_entropy_with_logits(out["noise"].squeeze(1), b.noise)
            + F.binary_cross_entropy_with_logits(out["shuffled"].squeeze(1), b.shuffled)
        )
    if name == "frame":
        out = model(resize(b.x))
        centre = pool.centres[b.index, b.frame] * 2 - 1
        return (
            F.cross_entropy(out["shape"], labels[:, 0]) + F.cross_entropy(out["colour"], labels[:, 1])
            + F.cross_entropy(out["look"], b.base)
            + F.binary_cross_entropy_with_logits(out["watermark"].squeeze(1), b.watermark)
            + F.binary_cross_entropy_with_logits(out["noise"].squeeze(1), b.noise)
            + F.mse_loss(out["position"], centre)
            + F.mse_loss(out["size"].squeeze(1), (pool.size[b.index] - SIZE_MID) / SIZE_HALF)
        )
    raise ValueError(f"unknown evaluation network {name!r}")


def _lr_factor(step: int, steps: int, warmup_fraction: float) -> float:
    warm = max(1, int(round(warmup_fraction * steps)))
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


def train_network(name: str, pool: Pool, cfg: EvalNetTrainConfig, log: Callable[[str], None] = print,
                  init: Optional[dict[str, torch.Tensor]] = None) -> nn.Module:
    """Train network ``name`` on the pool with ``cfg.<name>``; deterministic for a seed and thread count.

    ``init``: for the fvd net, the trained frame net's state dict it is inflated from (None: from scratch).
    """
    ncfg = cfg.net(name)
    model = seeded_network(name, ncfg.arch(), ncfg.seed)
    if init is not None:
        if name != "fvd":
            raise ValueError(f"init is for the fvd network only, not {name!r}")
        model.inflate_from(init)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=ncfg.lr, weight_decay=cfg.weight_decay)
    sampler = BatchSampler(pool, ncfg.looks, ncfg.seed, NET_NAMES.index(name))
    frames = name in ("frame", "watermark", "style")
    start, running = time.time(), 0.0
    for step in range(ncfg.steps):
        for group in opt.param_groups:
            group["lr"] = ncfg.lr * _lr_factor(step, ncfg.steps, cfg.warmup_fraction)
        b = sampler.draw(ncfg.batch, frames, cfg.shuffle_prob if name == "fvd" else 0.0,
                         (cfg.attribute_frames, cfg.attribute_pairs) if name == "attributes" else None,
                         cfg.fvd_frames if name == "fvd" else None)
        loss = _loss(name, model, b, pool)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += float(loss.detach())
        if (step + 1) % cfg.log_every == 0 or step + 1 == ncfg.steps:
            n = (step % cfg.log_every) + 1
            log(f"evalnets {name}: step {step + 1}/{ncfg.steps} loss {running / n:.4f} ({time.time() - start:.1f}s)")
            running = 0.0
    return model.eval()


def train_eval_networks(world: WorldConfig, folder: str | Path, cfg: EvalNetTrainConfig,
                        log: Callable[[str], None] = print) -> dict:
    """Train the five networks (skipping any whose folder is complete), save them, evaluate on held-out data.

    Returns {"seconds": {pool, <name>..., eval, total}, "skipped": [...], "sizes": {...}, "heldout": ...};
    the same dict is written to ``folder/report.json``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    previous_threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    seconds: dict[str, float] = {}
    skipped: list[str] = []
    start = time.time()
    try:
        pool: Optional[Pool] = None
        for name in TRAIN_ORDER:
            if network_complete(folder, name):
                kept = json.loads((folder / name / CONFIG_FILE).read_text())
                differs = kept.get("train") != cfg.net(name).model_dump() or kept.get("world") != world.model_dump()
                log(f"evalnets {name}: {folder / name} is complete, kept"
                    + (" (trained with another config or world; delete the folder to retrain)" if differs else ""))
                skipped.append(name)
                continue
            if pool is None:
                t = time.time()
                pool = build_pool(world, cfg.pool_clips)
                seconds["pool"] = time.time() - t
                log(f"evalnets: rendered a pool of {cfg.pool_clips} networks-set clips ({seconds['pool']:.1f}s)")
            t = time.time()
            init = load_file(str(folder / "frame" / WEIGHTS_FILE)) if name == "fvd" else None
            model = train_network(name, pool, cfg, log, init)
            seconds[name] = time.time() - t
            config = {"name": name, "arch": cfg.net(name).arch(), "format_version": FORMAT_VERSION,
                      "trained": True, "train": cfg.net(name).model_dump(), "train_all": cfg.model_dump(),
                      "world": world.model_dump(), "seconds": seconds[name],
                      "parameters": num_parameters(model), "torch_threads": torch.get_num_threads()}
            write_network(folder, name, model, config)
            log(f"evalnets {name}: trained in {seconds[name]:.1f}s, saved to {folder / name}")
        seconds["train_total"] = time.time() - start
        nets = load_eval_networks(folder)
        t = time.time()
        heldout = evaluate_eval_networks(nets, world, n=cfg.eval_items)
        seconds["eval"] = time.time() - t
    finally:
        torch.set_num_threads(previous_threads)
    seconds["total"] = time.time() - start
    report = {"seconds": seconds, "skipped": skipped, "sizes": network_sizes(nets), "heldout": heldout}
    tmp = folder / (REPORT_FILE + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / REPORT_FILE)
    log(f"evalnets: done in {seconds['total']:.1f}s; held-out: {json.dumps(summary(heldout))}")
    return report
