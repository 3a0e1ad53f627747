"""A small DINOv2 trained self-supervised on the world's frames: the discriminator's stand-in for DINOv2.

The MCM discriminator reads a frozen DINOv2 ViT-S/14. What it brings is that self-supervised pretraining made
its features describe images (objects, colours, image quality) without ever seeing a label. A random-initialised
ViT is no stand-in for that, and the real weights know nothing of 32-pixel shapes. So this module trains a
DINOv2-architecture model (transformers ``Dinov2Model``, small enough for a CPU) on frames of the world's
``networks`` set (seen combinations only; the zero-shot ones are never shown), rendered clean, degraded (V's
defects) and styled, **without labels**, as DINOv2 itself is trained.

Method: SimCLR [Chen et al. 2020]. A projection head on [CLS, mean, max] of the normed last block's tokens;
the NT-Xent loss makes the two views of a frame find each other among the batch; the head is then discarded.
The two views of a frame are:

* renderings of it in two random looks (``positives="look"``; the same frame and look is possible): the
  world's free multi-view signal, as in CMC [Tian et al. 2020]. No attribute is read, but the views no longer
  share a look;
* shifted circularly so that a background row and column become the edges (``seam_safe_roll``, found from the
  pixels): the object's place is no longer shared either, and the object is never split;
* resized crops / zoom-outs, horizontal flips (never vertical: a triangle points up), and jitter of brightness,
  contrast, saturation and per-channel gain. The jitter hides each clip's exact tint and background level but
  keeps a red object red (no hue rotation).

Contrastive learning keeps the easiest features two views share and suppresses the others [Chen, Luo & Li
2021]. Colour is easy. Without these views, position, look and tint are too, and the shape never enters the
features. The backbone keeps what the head is made blind to: ``linear_probe`` shows that look and colour stay
linearly readable. Attribute labels are used only there, after training.

The result is a transformers folder (``config.json``, ``model.safetensors``) that
``mcm.discriminator.backbone.load_dinov2`` reads, plus ``training.json``: the training config, the loss curve
and the probe's accuracies, with ``seconds`` and ``loss_curve`` recorded as the other world trainers record
them. Use it with ``DiscriminatorConfig(backbone=<folder>, tiny_backbone=None,
image_size=<architecture.image_size>, feature_blocks=<blocks below architecture.num_hidden_layers>)``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn
from transformers import Dinov2Config, Dinov2Model

from mcm.backbone.config import TinyBackboneConfig
from mcm.backbone.preprocess import imagenet_normalize, resize_for_backbone
from mcm.config.base import StrictConfig
from mcm.world.sets import WorldConfig, clips
from mcm.world.spec import COLOURS, SHAPES
from mcm.utils.threads import torch_threads
from mcm.world.train_utils import RECORD_FILE

Look = Literal["clean", "degraded", "styled"]
#: The only set the backbone (and its probe) sees: the project's own networks' clips, seen combinations.
TRAIN_SET = "networks"
#: What ``train_backbone`` writes next to the weights (the world trainers' record name); with the weights and
#: config it marks a complete folder.
RECORD_NAME = RECORD_FILE
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
#: Attributes the probe classifies, in the column order of ``render_frames``' labels.
PROBE_ATTRIBUTES = ("shape", "colour", "look")
#: Frequency base of the sin-cos position embedding (Transformer / MAE).
SINCOS_BASE = 10000.0


class BackboneArchitecture(TinyBackboneConfig):
    """The transformers ``Dinov2Config`` of the backbone: the discriminator's tiny-backbone fields (ViT-S/14
    values in their descriptions; the heads-divide-width check is inherited), wider defaults, and the input
    size and initialisation of a backbone trained from scratch. The inherited ``seed`` is not used here:
    ``BackboneTrainConfig.seed`` seeds the initialisation."""

    hidden_size: int = Field(64, ge=1, description="Token width (ViT-S/14: 384).")
    num_attention_heads: int = Field(4, ge=1, description="Attention heads (ViT-S/14: 6).")
    image_size: int = Field(
        32, ge=1, description="Input side; the discriminator's image_size must equal it (frames are resized to it)."
    )
    layerscale_value: float = Field(
        0.1, gt=0, description="Initial LayerScale of every residual branch (transformers' default: 1.0)."
    )
    sincos_init: bool = Field(
        True, description="Initialise the learned position embeddings with 2-D sin-cos and the patch projection "
        "Xavier-uniform, as MAE and MoCo v3 do. A ViT trained from scratch then learns spatial structure in far "
        "fewer steps.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "BackboneArchitecture":
        if self.image_size % self.patch_size != 0:
            raise ValueError(
                f"architecture.image_size={self.image_size} must be a multiple of architecture.patch_size="
                f"{self.patch_size}"
            )
        return self

    def dinov2_config(self) -> Dinov2Config:
        return Dinov2Config(
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, mlp_ratio=self.mlp_ratio, patch_size=self.patch_size,
            image_size=self.image_size, layerscale_value=self.layerscale_value,
        )


class ViewConfig(StrictConfig):
    """The random views SimCLR compares (two per frame), drawn with numpy from the training seed."""

    roll: bool = Field(
        True, description="Shift each frame circularly so that a random background row and column become its "
        "edges (``seam_safe_roll``). The object's place then differs between views and the object is never split.",
    )
    roll_threshold: float = Field(
        0.2, gt=0, description="Largest deviation of a line's pixels from the line's median for it to count as "
        "background (V's noise stays well below, an object's edge well above).",
    )
    crop_area: tuple[float, float] = Field(
        (0.5, 1.4), description="Range of the sampled region's area as a fraction of the frame (RandomResizedCrop "
        "scale). Above 1 the view zooms out: the whole frame, smaller, at a random place, edges replicated.",
    )
    crop_aspect: tuple[float, float] = Field(
        (0.75, 4.0 / 3.0), description="Range of the region's width / height (drawn log-uniformly)."
    )
    flip_prob: float = Field(0.5, ge=0, le=1, description="Probability of a horizontal flip (never vertical).")
    jitter_prob: float = Field(0.8, ge=0, le=1, description="Probability of the colour jitter below.")
    brightness: float = Field(0.3, ge=0, lt=1, description="Brightness factor drawn in [1 - b, 1 + b].")
    contrast: float = Field(0.3, ge=0, lt=1, description="Contrast factor (around the image mean) in [1 - c, 1 + c].")
    saturation: float = Field(
        0.3, ge=0, lt=1, description="Saturation factor (around each pixel's grey) in [1 - s, 1 + s]."
    )
    channel_gain: float = Field(
        0.3, ge=0, lt=1, description="Gain of each RGB channel in [1 - g, 1 + g]: hides a clip's exact tint "
        "(per-channel jitter +-0.04) without moving a colour into another's range. No hue rotation.",
    )

    @model_validator(mode="after")
    def _ranges(self) -> "ViewConfig":
        if not 0 < self.crop_area[0] <= self.crop_area[1]:
            raise ValueError(f"views.crop_area={self.crop_area} must satisfy 0 < low <= high")
        if not 0 < self.crop_aspect[0] <= self.crop_aspect[1]:
            raise ValueError(f"views.crop_aspect={self.crop_aspect} must satisfy 0 < low <= high")
        return self


class ProbeConfig(StrictConfig):
    """The linear probe: frozen features of held-out ``networks`` clips -> shape, colour and look."""

    start: int = Field(
        768, ge=0, description="First networks item of the probe's clips (the training pool ends before it)."
    )
    train_clips: int = Field(128, ge=1, description="Clips the probe's classifiers are fitted on.")
    test_clips: int = Field(128, ge=1, description="Further clips they are scored on (the reported accuracies).")
    frames_per_clip: int = Field(2, ge=1, description="Frames taken per clip, evenly spaced from first to last.")
    looks: tuple[Look, ...] = Field(("clean", "degraded", "styled"), description="Looks each clip is rendered in.")
    l2: float = Field(1e-3, ge=0, description="L2 penalty of the logistic regression (on standardised features).")
    iterations: int = Field(100, ge=1, description="L-BFGS iterations of the logistic regression.")
    batch: int = Field(256, ge=1, description="Frames per forward pass when extracting features.")

    @model_validator(mode="after")
    def _looks(self) -> "ProbeConfig":
        if not self.looks or len(set(self.looks)) != len(self.looks):
            raise ValueError(f"probe.looks={self.looks} must be distinct and non-empty")
        return self


class BackboneTrainConfig(StrictConfig):
    """Self-supervised (SimCLR) training of the small DINOv2 stand-in.

    With the defaults, training takes about 3 to 4 minutes on 2 CPU threads."""

    architecture: BackboneArchitecture = Field(default_factory=BackboneArchitecture)
    projection_hidden: int = Field(256, ge=1, description="Hidden width of the projection head (discarded).")
    projection_dim: int = Field(64, ge=1, description="Output width of the projection head (the NT-Xent space).")
    looks: tuple[Look, ...] = Field(
        ("clean", "degraded", "styled"), description="Looks the training clips are rendered in (all frames each)."
    )
    pool_clips: int = Field(768, ge=1, description="networks items 0 .. pool_clips - 1 form the training pool.")
    positives: Literal["frame", "look"] = Field(
        "look", description="A positive pair is one frame in two random looks ('look'), or in one look ('frame').",
    )
    views: ViewConfig = Field(default_factory=ViewConfig)
    steps: int = Field(800, ge=1, description="Optimiser steps.")
    batch: int = Field(64, ge=2, description="Frames per step (each gives two views: 2 x batch images).")
    lr: float = Field(2e-3, gt=0, description="Peak AdamW learning rate (after warmup, cosine decay to min_lr).")
    min_lr: float = Field(1e-5, ge=0, description="Learning rate at the last step.")
    warmup_steps: int = Field(20, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(0.05, ge=0, description="AdamW weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas.")
    temperature: float = Field(0.1, gt=0, description="NT-Xent softmax temperature.")
    seed: int = Field(0, description="Seeds the initialisation (torch) and the batches and views (numpy).")
    num_threads: Optional[int] = Field(
        None, ge=1, description="torch threads while training (restored after); None = leave as set. Weights are "
        "bit-identical for the same seed and thread count.",
    )
    log_every: int = Field(50, ge=1, description="Steps per logged (mean) loss.")
    probe: ProbeConfig = Field(default_factory=ProbeConfig)

    @model_validator(mode="after")
    def _consistent(self) -> "BackboneTrainConfig":
        if not self.looks or len(set(self.looks)) != len(self.looks):
            raise ValueError(f"looks={self.looks} must be distinct and non-empty")
        if self.pool_clips > self.probe.start:
            raise ValueError(
                f"pool_clips={self.pool_clips} overlaps the probe's clips (probe.start={self.probe.start}): the "
                "probe must score frames the backbone never trained on"
            )
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr={self.min_lr} exceeds lr={self.lr}")
        return self


# ----------------------------------------------------------------------------------------------------------------
# data


def render_frames(world: WorldConfig, start: int, count: int, looks: tuple[str, ...],
                  frames: Optional[np.ndarray] = None) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """uint8 (len(looks) * count * F', H, W, 3) frames of networks items ``start .. start + count`` (look-major,
    then item, then frame; ``frames`` picks F' of each clip, default all), and per frame its (shape, colour,
    look index). Only the probe reads these labels; training drops them."""
    out, labels = [], []
    for look_index, look in enumerate(looks):
        video, its = clips(world, TRAIN_SET, count, start=start, look=look)
        chosen = video if frames is None else video[:, frames]
        out.append(chosen.reshape(-1, *video.shape[2:]))
        labels += [(it.combo.shape, it.combo.colour, look_index) for it in its for _ in range(chosen.shape[1])]
    return np.concatenate(out), labels


def to_pixels(frames: np.ndarray, image_size: int) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> ImageNet-normalised (N, 3, S, S), resized as the discriminator does (area)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    return imagenet_normalize(resize_for_backbone(x, image_size))


def seam_safe_roll(x: torch.Tensor, threshold: float, rng: np.random.Generator) -> torch.Tensor:
    """Shift each image (N, 3, H, W) in [0, 1] circularly so that its new first row and column are a random
    row and column that look like background: none of the line's values lies more than ``threshold`` from the
    line's median (the median of a line is background: the object covers less than half of it). The object
    lands at a random place and is never split. If no line qualifies, any line is taken."""
    n, _, h, w = x.shape
    col_dev = (x - x.median(dim=2, keepdim=True).values).abs().amax(dim=(1, 2))  # (N, W): column vs its median
    row_dev = (x - x.median(dim=3, keepdim=True).values).abs().amax(dim=(1, 3))  # (N, H): row vs its median
    # uniform among the safe lines: a uniform draw in [0, 1) plus 1 for a safe line, argmax
    c0 = np.argmax(rng.uniform(size=(n, w)) + (col_dev < threshold).numpy(), axis=1)
    r0 = np.argmax(rng.uniform(size=(n, h)) + (row_dev < threshold).numpy(), axis=1)
    rows = (torch.arange(h)[None, :] + torch.from_numpy(r0)[:, None]) % h  # out[i] = in[(i + r0) mod H]
    cols = (torch.arange(w)[None, :] + torch.from_numpy(c0)[:, None]) % w
    return x[torch.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def draw_views(frames: np.ndarray, cfg: ViewConfig, image_size: int, rng: np.random.Generator) -> torch.Tensor:
    """One random view of each uint8 frame (N, H, W, 3): seam-safe roll, resized crop or zoom-out and flip
    (one affine resampling), colour jitter; ImageNet-normalised (N, 3, S, S). Every random number is drawn
    from ``rng``."""
    n = frames.shape[0]
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if cfg.roll:
        x = seam_safe_roll(x, cfg.roll_threshold, rng)
    area = rng.uniform(*cfg.crop_area, n)
    aspect = np.exp(rng.uniform(np.log(cfg.crop_aspect[0]), np.log(cfg.crop_aspect[1]), n))
    width, height = np.sqrt(area * aspect), np.sqrt(area / aspect)  # region sides as fractions of the frame
    # region centre in [-1, 1] coordinates: a crop stays inside the frame, a zoomed-out frame inside the view
    cx = rng.uniform(-1.0, 1.0, n) * np.abs(1.0 - width)
    cy = rng.uniform(-1.0, 1.0, n) * np.abs(1.0 - height)
    flip = np.where(rng.uniform(size=n) < cfg.flip_prob, -1.0, 1.0)
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(torch.from_numpy(theta).float(), [n, 3, image_size, image_size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    jitter = rng.uniform(size=n) < cfg.jitter_prob
    factors = [np.where(jitter, rng.uniform(1 - s, 1 + s, n), 1.0)
               for s in (cfg.brightness, cfg.contrast, cfg.saturation)]
    b, c, s = (torch.from_numpy(f).float().view(n, 1, 1, 1) for f in factors)
    gain = np.where(jitter[:, None], rng.uniform(1 - cfg.channel_gain, 1 + cfg.channel_gain, (n, 3)), 1.0)
    x = x * b * torch.from_numpy(gain).float().view(n, 3, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * c + mean
    grey = x.mean(dim=1, keepdim=True)
    x = ((x - grey) * s + grey).clamp(0.0, 1.0)
    return imagenet_normalize(x)


# ----------------------------------------------------------------------------------------------------------------
# model and loss


def pooled(tokens: torch.Tensor) -> torch.Tensor:
    """[CLS, mean, max of the patch tokens] (N, 3D) of normed last-block tokens (N, 1 + L, D): what SimCLR
    trains and the probe reads. The max keeps the few tokens that hold the object from being averaged away
    among the background tokens."""
    patches = tokens[:, 1:]
    return torch.cat([tokens[:, 0], patches.mean(dim=1), patches.amax(dim=1)], dim=1)


def ssl_features(model: Dinov2Model, pixels: torch.Tensor) -> torch.Tensor:
    return pooled(model(pixel_values=pixels).last_hidden_state)


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner among the other 2B - 1 views (cosine / temperature)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    n = z1.shape[0]
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, target)


def learning_rate(step: int, cfg: BackboneTrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr`` at the last step."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - 1 - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def sincos_embedding(dim: int, grid: int) -> torch.Tensor:
    """(grid^2, dim) 2-D sin-cos position embedding (MAE): a quarter of the channels each for sin x, cos x,
    sin y, cos y; row-major like the patch tokens; channels beyond 4 * (dim // 4) are zero."""
    quarter = dim // 4
    omega = 1.0 / SINCOS_BASE ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                            indexing="ij")
    parts = [fn(c.reshape(-1, 1) * omega) for c in (xs, ys) for fn in (torch.sin, torch.cos)]
    out = torch.zeros(grid * grid, dim, dtype=torch.float64)
    out[:, :4 * quarter] = torch.cat(parts, dim=1)
    return out.float()


def new_backbone(arch: BackboneArchitecture, seed: int) -> Dinov2Model:
    """The initial backbone, deterministic in ``seed`` (torch's global generator is left untouched)."""
    config = arch.dinov2_config()
    config._attn_implementation = "eager"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Dinov2Model(config)
    if arch.sincos_init:
        with torch.no_grad():
            grid = arch.image_size // arch.patch_size
            model.embeddings.position_embeddings[0, 1:] = sincos_embedding(arch.hidden_size, grid)
            weight = model.embeddings.patch_embeddings.projection.weight
            bound = math.sqrt(6.0 / (weight[0].numel() + weight.shape[0]))  # Xavier-uniform of the flat matrix
            generator = torch.Generator().manual_seed(seed)
            weight.copy_((torch.rand(weight.shape, generator=generator) * 2 - 1) * bound)
    return model


# ----------------------------------------------------------------------------------------------------------------
# probe


@torch.no_grad()
def _features(model: Dinov2Model, frames: np.ndarray, image_size: int, batch: int) -> torch.Tensor:
    return torch.cat([ssl_features(model, to_pixels(frames[i:i + batch], image_size))
                      for i in range(0, len(frames), batch)])


def _logistic_regression(x: torch.Tensor, y: torch.Tensor, classes: int, l2: float, iterations: int) -> nn.Linear:
    """Multinomial logistic regression, full-batch L-BFGS from zero (deterministic)."""
    x = x.detach()
    clf = nn.Linear(x.shape[1], classes)
    nn.init.zeros_(clf.weight)
    nn.init.zeros_(clf.bias)
    opt = torch.optim.LBFGS(clf.parameters(), max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(clf(x), y) + l2 * clf.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return clf


def linear_probe(model: Dinov2Model, world: WorldConfig, cfg: ProbeConfig = ProbeConfig()) -> dict:
    """Frozen ``pooled`` features of held-out frames -> shape, colour and look. Returns the logistic-regression
    test accuracy (``<attr>``), the nearest-centroid accuracy (``<attr>_centroid``, cosine to class means of
    standardised features) and the logistic accuracy per look (``<attr>/<look>``); ``chance`` is 1 / 4 for shape
    and colour. The attribute labels are read here only."""
    image_size = int(model.config.image_size)
    frames = np.unique(np.linspace(0, world.num_frames - 1, cfg.frames_per_clip).round().astype(int))
    was_training = model.training
    model.eval()
    try:
        data = []
        for start, count in ((cfg.start, cfg.train_clips), (cfg.start + cfg.train_clips, cfg.test_clips)):
            pixels, labels = render_frames(world, start, count, cfg.looks, frames)
            data.append((_features(model, pixels, image_size, cfg.batch), torch.tensor(labels)))
    finally:
        model.train(was_training)
    (xtr, ytr), (xte, yte) = data
    mean, std = xtr.mean(0), xtr.std(0) + torch.finfo(xtr.dtype).eps
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    out: dict = {"chance": 1.0 / len(SHAPES), "test_frames": int(len(yte))}
    for k, (attr, classes) in enumerate(zip(PROBE_ATTRIBUTES, (len(SHAPES), len(COLOURS), len(cfg.looks)))):
        if classes < 2:
            continue
        clf = _logistic_regression(xtr, ytr[:, k], classes, cfg.l2, cfg.iterations)
        with torch.no_grad():
            hit = clf(xte).argmax(1) == yte[:, k]
            out[attr] = hit.float().mean().item()
            for li, look in enumerate(cfg.looks):
                out[f"{attr}/{look}"] = hit[yte[:, 2] == li].float().mean().item()
            present = [c for c in range(classes) if (ytr[:, k] == c).any()]
            centroids = F.normalize(torch.stack([xtr[ytr[:, k] == c].mean(0) for c in present]), dim=1)
            nearest = torch.tensor(present)[(F.normalize(xte, dim=1) @ centroids.t()).argmax(1)]
            out[f"{attr}_centroid"] = (nearest == yte[:, k]).float().mean().item()
    return out


# ----------------------------------------------------------------------------------------------------------------
# training


def is_complete(folder: Path) -> bool:
    return all((Path(folder) / name).is_file() for name in (CONFIG_NAME, WEIGHTS_NAME, RECORD_NAME))


def train_backbone(world: WorldConfig, folder, cfg: BackboneTrainConfig = BackboneTrainConfig(),
                   log: Callable[[str], None] = print) -> dict:
    """Train the backbone without labels, probe it, and save it to ``folder`` atomically (written to a temporary
    folder beside it, then renamed). A complete folder is kept, and its stored result is returned with
    ``skipped`` True. Returns ``time_s`` (the training loop), ``total_s``, ``final_loss`` (mean of the last
    logged window), ``losses`` (one mean per window), ``probe`` (``linear_probe``'s accuracies),
    ``num_parameters`` and ``weights_bytes``."""
    folder = Path(folder)
    if is_complete(folder):
        record = json.loads((folder / RECORD_NAME).read_text())
        log(f"backbone: {folder} is complete; kept")
        return {**record["result"], "skipped": True}
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists but is not a complete backbone folder; remove it or pick another")

    arch = cfg.architecture
    with torch_threads(cfg.num_threads):
        started = time.perf_counter()
        pool, _ = render_frames(world, 0, cfg.pool_clips, cfg.looks)  # labels dropped: self-supervised
        pool = pool.reshape(len(cfg.looks), cfg.pool_clips, world.num_frames, *pool.shape[1:])
        log(f"backbone: {pool.shape[0]} looks x {pool.shape[1]} clips x {pool.shape[2]} frames rendered in "
            f"{time.perf_counter() - started:.1f}s")

        model = new_backbone(arch, cfg.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            head = projection_head(3 * arch.hidden_size, cfg.projection_hidden, cfg.projection_dim)
        params = list(model.parameters()) + list(head.parameters())
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(cfg.seed)
        model.train()
        losses, window = [], []
        t0 = time.perf_counter()
        for step in range(cfg.steps):
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, cfg)
            look = rng.integers(0, pool.shape[0], cfg.batch)
            clip = rng.integers(0, pool.shape[1], cfg.batch)
            frame = rng.integers(0, pool.shape[2], cfg.batch)
            other = rng.integers(0, pool.shape[0], cfg.batch) if cfg.positives == "look" else look
            views = torch.cat([draw_views(pool[look, clip, frame], cfg.views, arch.image_size, rng),
                               draw_views(pool[other, clip, frame], cfg.views, arch.image_size, rng)])
            z = head(ssl_features(model, views))
            loss = nt_xent(z[:cfg.batch], z[cfg.batch:], cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            window.append(loss.item())
            if len(window) == cfg.log_every or step == cfg.steps - 1:
                losses.append({"step": step + 1, "loss": float(np.mean(window))})
                log(f"backbone: step {step + 1}/{cfg.steps} loss {losses[-1]['loss']:.4f} "
                    f"({time.perf_counter() - t0:.0f}s)")
                window = []
        train_s = time.perf_counter() - t0
        probe = linear_probe(model, world, cfg.probe)
    log("backbone: probe " + ", ".join(f"{k} {probe[k]:.3f}" for k in PROBE_ATTRIBUTES if k in probe))

    model.config._attn_implementation = "sdpa"  # what load_dinov2 asks for by default
    result = {
        "time_s": train_s, "total_s": time.perf_counter() - started, "final_loss": losses[-1]["loss"],
        "losses": losses, "probe": probe, "num_parameters": sum(p.numel() for p in model.parameters()),
        "skipped": False,
    }
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    result["weights_bytes"] = (tmp / WEIGHTS_NAME).stat().st_size
    record = {
        "world": world.model_dump(mode="json"), "config": cfg.model_dump(mode="json"), "result": result,
        "seconds": train_s, "loss_curve": [[p["step"], p["loss"]] for p in losses],
    }
    (tmp / RECORD_NAME).write_text(json.dumps(record, indent=2) + "\n")
    if folder.exists():
        folder.rmdir()  # empty (checked above)
    os.replace(tmp, folder)
    log(f"backbone: saved {folder} ({result['weights_bytes'] / 1e6:.2f} MB)")
    return result
