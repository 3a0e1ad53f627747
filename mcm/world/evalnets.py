"""The small world's own frozen evaluation networks (our stand-ins for CLIP, I3D and Inception).

Five small pure-torch CNNs (with BatchNorm, frozen in eval mode), trained on the world's ``networks`` set
only (seen combinations; no network ever sees a zero-shot combination):

``attributes``  video classifier: (N, F, 3, H, W) -> logits of shape, colour and direction (4 each). Two
                pathways: an appearance 2D CNN per frame (max over space, mean over frames) feeds the
                shape and colour heads; a motion 2D CNN on consecutive pairs [frame_t, frame_t+1 - frame_t]
                (half resolution, max over space, mean over pairs) feeds the direction head. Trained on
                clean, V-degraded (with and without the watermark), noisy and styled clips, so it reads the
                content of generated videos whatever their quality. (The CLIPSIM stand-in.)
``fvd``         video feature network: a (2+1)D CNN on frames and their time derivative, the frame net's
                layers inflated with residual temporal convolutions and fine-tuned on videos; the mean and
                max of its last activations over time and space (``fvd_dim``) define our Fréchet video
                distance. Trained to predict the attributes, the look (clean / degraded / styled),
                watermark, noise, the speed and whether the frames were shuffled, so its features move
                with content, motion, temporal coherence and quality. (The I3D stand-in.)
``frame``       frame feature network: a per-frame 2D CNN whose mean- and max-pooled last activations
                (``frame_dim``) define our frame-quality distance to M (FID). Trained to predict shape,
                colour, look, watermark, noise, object position and size. (The Inception stand-in.)
``watermark``   frames -> probability that V's fixed-place watermark is present (a position-aware CNN: its
                last layer sees the whole feature map, not a pooled vector).
``style``       frames -> probability that the frame is the styled rendering.

None of them is, or shares weights with, the discriminator's backbone (``mcm.discriminator``): the
discriminator trains on its own features, and evaluating it with the features it optimises would reward it
for fooling itself. Inputs are float in [0, 1]: videos (N, F, 3, H, W), frames (M, 3, H, W); any H = W is
resized internally to ``INPUT_SIZE`` (area averaging when it divides, antialiased bilinear otherwise).

Training data come from a fixed pool of ``networks``-set clips rendered once (clean, styled, and "soft":
blurred + lower contrast with a degradation drawn for the clip); each batch composes looks on the fly from
the pool (watermark, sensor noise, uint8 quantisation), with indices and looks from a seeded numpy generator
and noise from a seeded torch generator, so a given seed and thread count give bit-identical weights.

On disk each network is ``folder/<name>/model.safetensors`` + ``folder/<name>/config.json`` (architecture,
training config, world config, training seconds), written to a temporary folder and renamed into place;
``train_eval_networks`` keeps a network whose folder is complete, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from safetensors.torch import load_file, save_file
from torch import nn

from mcm.config.base import StrictConfig
from mcm.world import render
from mcm.world.sets import WorldConfig, clips, items
from mcm.world.spec import ATTRIBUTES, COLOURS, DIRECTIONS, SHAPES, Combo

#: The five networks; each is a sub-folder of an evaluation-networks folder.
NET_NAMES = ("attributes", "fvd", "frame", "watermark", "style")
#: Training order: the frame net before the fvd net, which starts from its weights.
TRAIN_ORDER = ("attributes", "frame", "fvd", "watermark", "style")
#: Frame side every network works at (inputs of another size are resized to it).
INPUT_SIZE = render.REFERENCE_SIZE
#: Files of one network's folder.
WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
#: Version of the on-disk layout written into config.json.
FORMAT_VERSION = 1
#: Report written at the root of a trained folder by ``train_eval_networks``.
REPORT_FILE = "report.json"
#: Number of classes of each attribute head.
NUM_CLASSES = {"shape": len(SHAPES), "colour": len(COLOURS), "direction": len(DIRECTIONS)}
#: Base renderings a training sample is composed from (index = label of the "look" heads).
BASES = ("clean", "soft", "styled")
CLEAN, SOFT, STYLED = range(len(BASES))
#: Probability of a probability head above which a frame is flagged (watermark, style).
FLAG_THRESHOLD = 0.5
#: Inputs are mapped from [0, 1] to [-1, 1] as (x - INPUT_SHIFT) * INPUT_SCALE before the first layer.
INPUT_SHIFT, INPUT_SCALE = 0.5, 2.0
#: Videos / frames per forward chunk at inference (bounds memory for large batches).
INFER_CHUNK = 256
#: Seed stream of the pool's degradations (one per world seed), and per-network offsets of the seeds of
#: ``build_eval_networks`` (random init for tests of other code).
POOL_STREAM = 7919
BUILD_SEED_OFFSETS = {name: k for k, name in enumerate(NET_NAMES)}
#: Speed range (pixels per frame at the reference size) the fvd net's speed target is normalised with.
SPEED_MID, SPEED_HALF = sum(render.SPEED_RANGE) / 2, (render.SPEED_RANGE[1] - render.SPEED_RANGE[0]) / 2
#: Object half-size range the frame net's size target is normalised with.
SIZE_MID, SIZE_HALF = sum(render.SIZE_RANGE) / 2, (render.SIZE_RANGE[1] - render.SIZE_RANGE[0]) / 2
#: Sets and looks of the held-out attribute report (fresh items; zero_shot holds the held-out combos).
EVAL_SETS = ("seen", "zero_shot")
EVAL_LOOKS = ("degraded", "clean", "styled")
#: Looks the >= 97% requirement applies to (V-like degraded clips, M-like clean clips).
REQUIRED_LOOKS = ("degraded", "clean")


# ----------------------------------------------------------------------------------------------- config


class LookMix(StrictConfig):
    """How a training sample is composed from the pool: base rendering, then watermark, then noise."""

    clean: float = Field(0.4, ge=0, description="Weight of the clean render as base.")
    soft: float = Field(0.4, ge=0, description="Weight of the blurred + low-contrast render (V's defects) as base.")
    styled: float = Field(0.2, ge=0, description="Weight of the styled rendering as base.")
    watermark: float = Field(0.5, ge=0, le=1, description="Probability of adding the fixed-place watermark.")
    noise_soft: float = Field(0.9, ge=0, le=1, description="Probability of sensor noise on a soft base.")
    noise_other: float = Field(0.3, ge=0, le=1, description="Probability of sensor noise on a clean/styled base.")

    def weights(self) -> np.ndarray:
        w = np.asarray([self.clean, self.soft, self.styled], np.float64)
        if w.sum() <= 0:
            raise ValueError("LookMix: the base weights must not all be zero")
        return w / w.sum()


class NetTrainConfig(StrictConfig):
    """Training of one network: steps, batch, learning rate, seed, and its architecture (conv widths)."""

    steps: int = Field(..., ge=1, description="Optimiser steps.")
    batch: int = Field(..., ge=1, description="Clips (video networks) or frames (frame networks) per step.")
    lr: float = Field(..., gt=0, description="Peak AdamW learning rate (linear warm-up, cosine decay to 0).")
    seed: int = Field(..., description="Seed of the init, the batch draws and the noise.")
    widths: list[int] = Field(..., min_length=1, description="Channel widths of the conv layers (attributes: the "
                              "appearance pathway; fvd and frame: the feature dimension is 2 x the last one).")
    motion_widths: list[int] = Field(default_factory=list,
                                     description="attributes only: widths of the motion pathway.")
    looks: LookMix = Field(default_factory=LookMix, description="Composition of the training samples.")

    def arch(self) -> dict:
        """The architecture arguments of ``build_network`` (also written into config.json)."""
        return {"widths": list(self.widths), "motion_widths": list(self.motion_widths)}


def _attributes_default() -> NetTrainConfig:
    return NetTrainConfig(steps=250, batch=32, lr=2e-3, seed=11, widths=[32, 32, 64, 64], motion_widths=[16, 32])


def _fvd_default() -> NetTrainConfig:
    return NetTrainConfig(steps=250, batch=16, lr=3e-3, seed=23, widths=[24, 32, 48, 48])


def _frame_default() -> NetTrainConfig:
    return NetTrainConfig(steps=250, batch=64, lr=2e-3, seed=37, widths=[24, 32, 48, 48])


def _watermark_default() -> NetTrainConfig:
    return NetTrainConfig(steps=200, batch=64, lr=2e-3, seed=41, widths=[8, 16],
                          looks=LookMix(clean=0.4, soft=0.4, styled=0.2, watermark=0.5, noise_soft=0.9,
                                        noise_other=0.5))


def _style_default() -> NetTrainConfig:
    return NetTrainConfig(steps=100, batch=64, lr=2e-3, seed=53, widths=[8, 16],
                          looks=LookMix(clean=0.35, soft=0.35, styled=0.3, watermark=0.5, noise_soft=0.9,
                                        noise_other=0.5))


class EvalNetTrainConfig(StrictConfig):
    """Training of the five evaluation networks (defaults: about 7 minutes in total on 2 CPU threads shared with
    other work, less on 2 free cores)."""

    attributes: NetTrainConfig = Field(default_factory=_attributes_default,
                                       description="Attribute classifier: 250 steps x 32 clips, lr 2e-3.")
    fvd: NetTrainConfig = Field(default_factory=_fvd_default,
                                description="FVD video feature network: 250 steps x 16 clips, lr 3e-3, "
                                "starting from the frame network's weights (same widths).")
    frame: NetTrainConfig = Field(default_factory=_frame_default,
                                  description="Frame feature network: 250 steps x 64 frames, lr 2e-3.")
    watermark: NetTrainConfig = Field(default_factory=_watermark_default,
                                      description="Watermark detector: 200 steps x 64 frames, lr 2e-3.")
    style: NetTrainConfig = Field(default_factory=_style_default,
                                  description="Style classifier: 100 steps x 64 frames, lr 2e-3.")
    pool_clips: int = Field(2048, ge=1, description="Clips of the `networks` set rendered once as the training pool.")
    attribute_frames: int = Field(2, ge=1, description="attributes: frames per clip of a training step "
                                  "(appearance pathway; all frames at inference).")
    attribute_pairs: int = Field(2, ge=1, description="attributes: frame pairs per clip of a training step "
                                 "(motion pathway; all pairs at inference).")
    shuffle_prob: float = Field(0.2, ge=0, le=1, description="fvd: share of training clips with shuffled frames.")
    fvd_frames: int = Field(4, ge=2, description="fvd: consecutive frames of a training clip (a random window; "
                            "whole clips at inference).")
    eval_items: int = Field(256, ge=2, description="Items per set and look of the held-out report.")
    threads: Optional[int] = Field(2, ge=1, description="torch threads while training (None: leave as is).")
    log_every: int = Field(50, ge=1, description="Log the mean loss every this many steps.")
    warmup_fraction: float = Field(0.05, ge=0, lt=1, description="Share of the steps of linear lr warm-up.")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay.")

    @model_validator(mode="after")
    def _fvd_inflates_frame(self) -> "EvalNetTrainConfig":
        if self.fvd.widths != self.frame.widths:
            raise ValueError(f"fvd.widths {self.fvd.widths} must equal frame.widths {self.frame.widths}: "
                             "the fvd network starts from the frame network's weights")
        return self

    def net(self, name: str) -> NetTrainConfig:
        if name not in NET_NAMES:
            raise ValueError(f"unknown evaluation network {name!r}; expected one of {NET_NAMES}")
        return getattr(self, name)


# ----------------------------------------------------------------------------------------- architectures


def _resize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, INPUT_SIZE, INPUT_SIZE): area averaging when the size divides, else bilinear."""
    h, w = x.shape[-2:]
    if (h, w) == (INPUT_SIZE, INPUT_SIZE):
        return x
    if h % INPUT_SIZE == 0 and w % INPUT_SIZE == 0:
        return F.adaptive_avg_pool2d(x, INPUT_SIZE)
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True, align_corners=False)


def _resize_video(v: torch.Tensor) -> torch.Tensor:
    n, f = v.shape[:2]
    return _resize(v.reshape(n * f, *v.shape[2:])).reshape(n, f, 3, INPUT_SIZE, INPUT_SIZE)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - INPUT_SHIFT) * INPUT_SCALE


def _cl(x: torch.Tensor) -> torch.Tensor:
    """Channels-last layout (several times faster for CPU convolutions)."""
    return x.contiguous(memory_format=torch.channels_last)


def _conv_stack(cin: int, widths: list[int], strides: tuple[int, ...], what: str) -> nn.Sequential:
    """Conv, BatchNorm, ReLU per width: 3x3 for stride 1, 4x4 for stride 2 (halves the side exactly)."""
    if len(widths) > len(strides):
        raise ValueError(f"{what}: at most {len(strides)} layers, got widths {widths}")
    layers: list[nn.Module] = []
    for w, s in zip(widths, strides):
        conv = nn.Conv2d(cin, w, 3, 1, 1) if s == 1 else nn.Conv2d(cin, w, 2 * s, s, s // 2)
        layers += [conv, nn.BatchNorm2d(w), nn.ReLU()]
        cin = w
    return nn.Sequential(*layers)


def _mean_max(h: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Concatenation of the mean and the max over ``dims`` (channels stay on dim 1)."""
    return torch.cat([h.mean(dim=dims), h.amax(dim=dims)], dim=1)


#: Strides of the attribute net's appearance pathway (per frame, from 32x32) and motion pathway (frame
#: pairs at half resolution), of the frame net and of the fvd net's spatial convolutions.
APPEARANCE_STRIDES = (2, 1, 2, 1, 1, 1)
MOTION_STRIDES = (2, 2, 1, 1)
FRAME_STRIDES = (2, 1, 2, 1, 1, 1)
VIDEO_STRIDES = FRAME_STRIDES  # the fvd net inflates the frame net
#: Modules per conv layer of ``_conv_stack`` (conv, BatchNorm, ReLU).
LAYER_MODULES = 3
#: Kernel length of the fvd net's temporal convolutions (frames).
TEMPORAL_KERNEL = 3
#: Downsampling of the attribute net's motion pathway input (frame differences need no fine detail).
MOTION_DOWNSAMPLE = 2


class AttributeNet(nn.Module):
    """The attribute classifier (CLIPSIM stand-in): two pathways, each max-pooled over space.

    Appearance: a per-frame 2D CNN (``widths``), max over space, mean over frames -> shape and colour heads.
    Motion: a 2D CNN (``motion_widths``) on pairs [frame_t, frame_t+1 - frame_t] at half resolution, max over
    space, mean over the F - 1 pairs -> direction head. Keeping the frame differences out of the shape and
    colour heads (and single frames out of the direction head's reach for shape) stops the heads from
    learning the seen-combination shortcut "shape = the one not held out for this colour and direction",
    which is always wrong on the zero-shot combinations. Not the discriminator's backbone.

    In training ``frames``/``pairs`` (N, K) pick K frames / pairs per clip (cheaper steps); at inference all
    are used.
    """

    def __init__(self, widths: list[int], motion_widths: list[int]) -> None:
        super().__init__()
        if not motion_widths:
            raise ValueError("the attribute network needs motion_widths")
        self.appearance = _conv_stack(3, widths, APPEARANCE_STRIDES, "attributes.widths")
        self.motion = _conv_stack(6, motion_widths, MOTION_STRIDES, "attributes.motion_widths")
        self.heads = nn.ModuleDict({
            "shape": nn.Linear(widths[-1], NUM_CLASSES["shape"]),
            "colour": nn.Linear(widths[-1], NUM_CLASSES["colour"]),
            "direction": nn.Linear(motion_widths[-1], NUM_CLASSES["direction"]),
        })

    def forward(self, videos: torch.Tensor, frames: Optional[torch.Tensor] = None,
                pairs: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
        n, f = videos.shape[:2]
        if f < 2:
            raise ValueError(f"the attribute network needs at least 2 frames, got {f}")
        rows = torch.arange(n, device=videos.device)[:, None]
        x = _normalise(videos)
        sel = x if frames is None else x[rows, frames]
        app = self.appearance(_cl(sel.flatten(0, 1))).amax(dim=(2, 3)).reshape(n, sel.shape[1], -1).mean(dim=1)
        lo = F.avg_pool2d(x.flatten(0, 1), MOTION_DOWNSAMPLE).unflatten(0, (n, f))
        pair = torch.cat([lo[:, :-1], lo[:, 1:] - lo[:, :-1]], dim=2)
        if pairs is not None:
            pair = pair[rows, pairs]
        mot = self.motion(_cl(pair.flatten(0, 1))).amax(dim=(2, 3)).reshape(n, pair.shape[1], -1).mean(dim=1)
        return {"shape": self.heads["shape"](app), "colour": self.heads["colour"](app),
                "direction": self.heads["direction"](mot)}


#: Heads of the fvd net (training only): name -> outputs; classification heads use cross-entropy, the
#: binary ones BCE, speed MSE.
FVD_HEADS = {"shape": 4, "colour": 4, "direction": 4, "look": len(BASES), "watermark": 1, "noise": 1,
             "shuffled": 1, "speed": 1}
#: Heads of the frame net (training only).
FRAME_HEADS = {"shape": 4, "colour": 4, "look": len(BASES), "watermark": 1, "noise": 1, "position": 2,
               "size": 1}


class TemporalConv(nn.Module):
    """Residual convolution over time only (kernel TEMPORAL_KERNEL x 1 x 1) on (N, C, F, H, W) of non-negative
    activations: ReLU(x + conv x), the conv initialised to 0 so the block starts as the identity (and, with no
    normalisation after it, learns from the first step)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, (TEMPORAL_KERNEL, 1), 1, (TEMPORAL_KERNEL // 2, 0))
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, f, h, w = x.shape
        y = self.conv(_cl(x.reshape(n, c, f, h * w)))
        return F.relu(x + y.reshape(n, c, f, h, w))


#: The first conv's weight in ``_conv_stack`` layouts (the fvd net's has 3 more input channels).
FIRST_CONV_WEIGHT = "body.0.weight"


def _time_derivative(x: torch.Tensor) -> torch.Tensor:
    """d/dt of (N, F, ...) frames: central differences inside, one-sided at the ends (zero for F = 1)."""
    if x.shape[1] < 2:
        return torch.zeros_like(x)
    pad = torch.cat([2 * x[:, :1] - x[:, 1:2], x, 2 * x[:, -1:] - x[:, -2:-1]], dim=1)
    return (pad[:, 2:] - pad[:, :-2]) / 2


class VideoNet(nn.Module):
    """The FVD network (I3D stand-in): a (2+1)D CNN, the frame net's 2D layers "inflated" with a residual
    temporal convolution after each (as I3D inflates Inception); its input is each frame and its time
    derivative (6 channels).

    ``body`` has the frame net's layout (so the frame net's trained weights initialise it, see
    ``inflate_from``); the temporal convolutions start as the identity. Features (``dim`` = 2 x
    widths[-1]): mean and max of the last activations over time and space. Heads (training only):
    FVD_HEADS. Not the discriminator's backbone.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.body = _conv_stack(2 * 3, widths, VIDEO_STRIDES, "fvd.widths")
        self.temporal = nn.ModuleList(TemporalConv(w) for w in widths)
        self.dim = 2 * widths[-1]
        self.heads = nn.ModuleDict({k: nn.Linear(self.dim, n) for k, n in FVD_HEADS.items()})

    def features(self, videos: torch.Tensor) -> torch.Tensor:
        n, f = videos.shape[:2]
        x = _normalise(videos)
        h = torch.cat([x, _time_derivative(x)], dim=2).flatten(0, 1)  # (N F, 6, S, S)
        for k, temporal in enumerate(self.temporal):
            h = self.body[LAYER_MODULES * k:LAYER_MODULES * (k + 1)](_cl(h))
            h = temporal(h.unflatten(0, (n, f)).transpose(1, 2))  # (N, C, F, S', S')
            h = h.transpose(1, 2).flatten(0, 1)
        return _mean_max(h.unflatten(0, (n, f)), (1, 3, 4))

    def forward(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(videos)
        return {k: head(h) for k, head in self.heads.items()}

    def inflate_from(self, frame_state: dict[str, torch.Tensor]) -> None:
        """Copy a trained frame net's conv layers and its heads of the same name and size."""
        own = self.state_dict()
        body = {k: v for k, v in frame_state.items() if k.startswith("body.")}
        if set(body) != {k for k in own if k.startswith("body.")}:
            raise ValueError("fvd: the frame network's layers differ from the fvd network's (same widths needed)")
        for k, v in frame_state.items():
            if k == FIRST_CONV_WEIGHT and v.shape[1] == 3 and own[k].shape[0] == v.shape[0]:
                own[k] = torch.cat([v, torch.zeros_like(v)], dim=1)  # the time-derivative channels start unused
            elif k in own and own[k].shape == v.shape and (k.startswith("body.") or k.startswith("heads.")):
                own[k] = v.clone()
            elif k.startswith("body."):
                raise ValueError(f"fvd: frame network tensor {k} has shape {tuple(v.shape)}, "
                                 f"expected {tuple(own[k].shape)}")
        self.load_state_dict(own)


class FrameNet(nn.Module):
    """The frame feature network (Inception stand-in): a per-frame 2D CNN.

    Features (``dim`` = 2 x widths[-1]): mean and max of the last activations over space. Heads (training
    only): FRAME_HEADS. Not the discriminator's backbone.
    """

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.body = _conv_stack(3, widths, FRAME_STRIDES, "frame.widths")
        self.dim = 2 * widths[-1]
        self.heads = nn.ModuleDict({k: nn.Linear(self.dim, n) for k, n in FRAME_HEADS.items()})

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        return _mean_max(self.body(_cl(_normalise(frames))), (2, 3))

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(frames)
        return {k: head(h) for k, head in self.heads.items()}


class SpotNet(nn.Module):
    """A frame -> one logit detector (watermark or style): stride-2 convs, then one linear layer.

    ``pooled=False`` (watermark) keeps the layout: the linear layer sees the whole final map, so it can look
    at the watermark's fixed place. ``pooled=True`` (style) takes mean and max over space first.
    """

    def __init__(self, widths: list[int], pooled: bool) -> None:
        super().__init__()
        strides = (2,) * len(widths)
        self.body = _conv_stack(3, widths, strides, "spot.widths")
        side = INPUT_SIZE // 2 ** len(widths)
        self.pooled = pooled
        self.head = nn.Linear(2 * widths[-1] if pooled else widths[-1] * side * side, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h = self.body(_cl(_normalise(frames)))
        h = _mean_max(h, (2, 3)) if self.pooled else h.flatten(1)
        return self.head(h).squeeze(1)


def build_network(name: str, widths: list[int], motion_widths: Optional[list[int]] = None) -> nn.Module:
    """The (untrained) network ``name`` with the given conv widths."""
    if name == "attributes":
        return AttributeNet(widths, list(motion_widths or []))
    if motion_widths:
        raise ValueError(f"motion_widths is for the attribute network only, not {name!r}")
    if name == "fvd":
        return VideoNet(widths)
    if name == "frame":
        return FrameNet(widths)
    if name == "watermark":
        return SpotNet(widths, pooled=False)
    if name == "style":
        return SpotNet(widths, pooled=True)
    raise ValueError(f"unknown evaluation network {name!r}; expected one of {NET_NAMES}")


def _seeded_network(name: str, arch: dict, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_network(name, **arch)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------- interface


class EvalNetworks:
    """The five frozen evaluation networks (eval mode, no gradients) on one device.

    Not the discriminator's features: see the module docstring. Inputs are float in [0, 1], videos
    (N, F, 3, H, W) with F >= 2 and frames (M, 3, H, W); H = W of any size (resized to INPUT_SIZE).
    """

    def __init__(self, modules: dict[str, nn.Module], configs: dict[str, dict], device: str | torch.device = "cpu"):
        missing = [n for n in NET_NAMES if n not in modules]
        if missing:
            raise ValueError(f"EvalNetworks: missing networks {missing}")
        self.device = torch.device(device)
        self.modules = {n: modules[n].to(self.device).eval().requires_grad_(False) for n in NET_NAMES}
        self.configs = configs
        self.fvd_dim: int = self.modules["fvd"].dim
        self.frame_dim: int = self.modules["frame"].dim

    def to(self, device: str | torch.device) -> "EvalNetworks":
        """Move the networks to ``device`` (in place); returns self."""
        self.device = torch.device(device)
        self.modules = {n: m.to(self.device) for n, m in self.modules.items()}
        return self

    @staticmethod
    def _check_float(x: torch.Tensor, what: str) -> None:
        if not torch.is_floating_point(x):
            raise ValueError(f"{what} must be float in [0, 1], got dtype {x.dtype} (divide uint8 pixels by 255)")

    def _videos(self, videos: torch.Tensor) -> torch.Tensor:
        self._check_float(videos, "videos")
        if videos.ndim != 5 or videos.shape[2] != 3 or videos.shape[-1] != videos.shape[-2]:
            raise ValueError(f"videos must be (N, F, 3, H, W) with H == W, got {tuple(videos.shape)}")
        if videos.shape[1] < 2:
            raise ValueError(f"videos need at least 2 frames, got {videos.shape[1]}")
        return _resize_video(videos.to(self.device, torch.float32))

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        self._check_float(frames, "frames")
        if frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[-1] != frames.shape[-2]:
            raise ValueError(f"frames must be (M, 3, H, W) with H == W, got {tuple(frames.shape)}")
        return _resize(frames.to(self.device, torch.float32))

    @staticmethod
    def _chunked(fn: Callable, x: torch.Tensor):
        outs = [fn(x[i:i + INFER_CHUNK]) for i in range(0, x.shape[0], INFER_CHUNK)]
        if isinstance(outs[0], dict):
            return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
        return torch.cat(outs)

    @torch.no_grad()
    def attribute_logits(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits (N, 4) of "shape", "colour", "direction" (indices into spec's SHAPES, COLOURS, DIRECTIONS)."""
        return self._chunked(self.modules["attributes"], self._videos(videos))

    @torch.no_grad()
    def fvd_features(self, videos: torch.Tensor) -> torch.Tensor:
        """(N, fvd_dim) features of our Fréchet video distance (compare videos of the same frame count)."""
        return self._chunked(self.modules["fvd"].features, self._videos(videos))

    @torch.no_grad()
    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(M, frame_dim) features of our frame-quality distance to M (FID)."""
        return self._chunked(self.modules["frame"].features, self._frames(frames))

    @torch.no_grad()
    def watermark_prob(self, frames: torch.Tensor) -> torch.Tensor:
        """(M,) probability that V's fixed-place watermark is present."""
        return torch.sigmoid(self._chunked(self.modules["watermark"], self._frames(frames)))

    @torch.no_grad()
    def style_prob(self, frames: torch.Tensor) -> torch.Tensor:
        """(M,) probability that the frame is the styled rendering."""
        return torch.sigmoid(self._chunked(self.modules["style"], self._frames(frames)))


def build_eval_networks(seed: int = 0) -> EvalNetworks:
    """Randomly initialised networks with the default architectures (for tests of code that uses them)."""
    defaults = EvalNetTrainConfig()
    modules, configs = {}, {}
    for name in NET_NAMES:
        arch = defaults.net(name).arch()
        modules[name] = _seeded_network(name, arch, seed * len(NET_NAMES) + BUILD_SEED_OFFSETS[name])
        configs[name] = {"name": name, "arch": arch, "trained": False}
    return EvalNetworks(modules, configs)


def _write_network(folder: Path, name: str, module: nn.Module, config: dict) -> None:
    """folder/name/{model.safetensors, config.json}, written to a temporary folder and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / name
    for stale in folder.glob(f".{name}.tmp-*"):  # left by an interrupted run
        shutil.rmtree(stale)
    tmp = folder / f".{name}.tmp-{os.getpid()}"
    tmp.mkdir()
    state = {k: v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS_FILE), metadata={"name": name, "format_version": str(FORMAT_VERSION)})
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if final.exists():
        old = folder / f".{name}.old-{os.getpid()}"
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old)
    else:
        os.replace(tmp, final)


def save_eval_networks(nets: EvalNetworks, folder: str | Path) -> None:
    """Write each network to ``folder/<name>/model.safetensors`` + ``config.json`` (atomically per network)."""
    for name in NET_NAMES:
        config = {**nets.configs[name], "name": name, "format_version": FORMAT_VERSION}
        _write_network(Path(folder), name, nets.modules[name], config)


def network_complete(folder: str | Path, name: str) -> bool:
    d = Path(folder) / name
    return (d / WEIGHTS_FILE).is_file() and (d / CONFIG_FILE).is_file()


def load_eval_networks(folder: str | Path, device: str | torch.device = "cpu") -> EvalNetworks:
    """Load the five networks from ``folder`` (safetensors only); a missing file is named in the error."""
    folder = Path(folder)
    hint = "train them with mcm.world.evalnets.train_eval_networks"
    if not folder.is_dir():
        raise FileNotFoundError(f"evaluation networks folder not found: {str(folder)!r} ({hint})")
    modules, configs = {}, {}
    for name in NET_NAMES:
        for fname in (CONFIG_FILE, WEIGHTS_FILE):
            if not (folder / name / fname).is_file():
                raise FileNotFoundError(f"evaluation network {name!r}: file not found: "
                                        f"{str(folder / name / fname)!r} ({hint})")
        config = json.loads((folder / name / CONFIG_FILE).read_text())
        if config.get("name") != name or not isinstance(config.get("arch"), dict):
            raise ValueError(f"{str(folder / name / CONFIG_FILE)!r} is not the config of evaluation network {name!r}")
        module = build_network(name, **config["arch"])
        state = load_file(str(folder / name / WEIGHTS_FILE))
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(f"{str(folder / name / WEIGHTS_FILE)!r} does not match its config.json: {e}") from e
        modules[name], configs[name] = module, config
    return EvalNetworks(modules, configs, device)


# ------------------------------------------------------------------------------------------------- data


def _to_videos(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, F, H, W, 3) -> float (N, F, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 1, 4, 2, 3).float().div_(255.0)


def soft_degrade(frames: np.ndarray, deg: render.Degradation) -> np.ndarray:
    """V's defects before the watermark and the noise (the first two steps of ``render.degrade``)."""
    scale = frames.shape[1] / render.REFERENCE_SIZE
    out = render.gaussian_blur(frames, deg.blur * scale)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(mean + deg.contrast * (out - mean), 0.0, 1.0)


@dataclass
class Pool:
    """Training pool: uint8 (P, F, S, S, 3) per base (BASES order), labels and clip parameters."""

    bases: torch.Tensor  # (3, P, F, S, S, 3) uint8
    labels: torch.Tensor  # (P, 3) int64: shape, colour, direction
    speed: torch.Tensor  # (P,) float, pixels per frame at the reference size
    size: torch.Tensor  # (P,) float, object half-size at the reference size
    centres: torch.Tensor  # (P, F, 2) float, object centre (x, y) / frame side in [0, 1]
    watermark: torch.Tensor  # (S, S) float, watermark alpha

    @property
    def count(self) -> int:
        return self.bases.shape[1]


def build_pool(world: WorldConfig, count: int) -> Pool:
    """Render items 0 .. count of the ``networks`` set (seen combinations only) clean, soft and styled."""
    its = items(world, "networks", count)
    rng = np.random.default_rng([world.seed, POOL_STREAM])
    f, s = world.num_frames, world.size
    bases = np.empty((len(BASES), count, f, s, s, 3), np.uint8)
    scale = s / render.REFERENCE_SIZE
    centres = np.empty((count, f, 2), np.float32)
    for k, it in enumerate(its):
        clean = it.clean(world)
        bases[CLEAN, k] = render.to_uint8(clean)
        bases[SOFT, k] = render.to_uint8(soft_degrade(clean, render.draw_degradation(rng)))
        bases[STYLED, k] = render.to_uint8(render.render_styled(it.combo, it.params, f, s))
        centres[k] = render.centres(it.combo, it.params, f) / s
    labels = torch.tensor([[it.combo.shape, it.combo.colour, it.combo.direction] for it in its], dtype=torch.long)
    return Pool(
        bases=torch.from_numpy(bases), labels=labels,
        speed=torch.tensor([it.params.speed / scale for it in its], dtype=torch.float32),
        size=torch.tensor([it.params.size / scale for it in its], dtype=torch.float32),
        centres=torch.from_numpy(centres),
        watermark=torch.from_numpy(render.WATERMARK_ALPHA * render.watermark_mask(s)),
    )


@dataclass
class Batch:
    x: torch.Tensor  # (B, F, 3, S, S) videos or (B, 3, S, S) frames, float in [0, 1]
    index: torch.Tensor  # (B,) pool index
    frame: Optional[torch.Tensor]  # (B,) frame index for frame batches
    base: torch.Tensor  # (B,) index into BASES
    watermark: torch.Tensor  # (B,) float 0/1
    noise: torch.Tensor  # (B,) float 0/1
    shuffled: torch.Tensor  # (B,) float 0/1 (video batches)
    pick_frames: Optional[torch.Tensor] = None  # (B, K) frames per clip the attribute net trains on
    pick_pairs: Optional[torch.Tensor] = None  # (B, K) frame pairs per clip the attribute net trains on


class BatchSampler:
    """Seeded draws of training batches from the pool (numpy generator for choices, torch for noise)."""

    def __init__(self, pool: Pool, looks: LookMix, seed: int, stream: int) -> None:
        self.pool, self.looks = pool, looks
        self.rng = np.random.default_rng([seed, stream])
        self.gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))

    def draw(self, batch: int, frames: bool, shuffle_prob: float = 0.0,
             pick: Optional[tuple[int, int]] = None, window: Optional[int] = None) -> Batch:
        """A batch of ``batch`` frames (``frames``) or clips; ``shuffle_prob``: share of clips with shuffled
        frames; ``pick`` (frames, pairs): also draw that many distinct frames and frame pairs per clip;
        ``window``: clips are that many consecutive frames from a random start (one start per batch)."""
        pool, rng, lk = self.pool, self.rng, self.looks
        index = rng.integers(pool.count, size=batch)
        base = rng.choice(len(BASES), size=batch, p=lk.weights())
        wm = rng.uniform(size=batch) < lk.watermark
        noise = rng.uniform(size=batch) < np.where(base == SOFT, lk.noise_soft, lk.noise_other)
        num_frames = pool.bases.shape[2]
        frame = rng.integers(num_frames, size=batch) if frames else None
        first = 0
        if window is not None and not frames and window < num_frames:
            first = int(rng.integers(num_frames - window + 1))
            num_frames = window
        shuffled = np.zeros(batch, bool)
        order = np.tile(np.arange(first, first + num_frames), (batch, 1))
        if not frames and shuffle_prob > 0:
            shuffled = rng.uniform(size=batch) < shuffle_prob
            for b in np.flatnonzero(shuffled):
                perm = rng.permutation(num_frames)
                while np.array_equal(perm, np.arange(num_frames)):
                    perm = rng.permutation(num_frames)
                order[b] = first + perm
        idx_t, base_t = torch.from_numpy(index), torch.from_numpy(base)
        if frames:
            x = pool.bases[base_t, idx_t, torch.from_numpy(frame)]  # (B, S, S, 3)
        else:
            x = pool.bases[base_t[:, None], idx_t[:, None], torch.from_numpy(order)]  # (B, F, S, S, 3)
        x = x.float().div_(255.0)
        bshape = (batch,) + (1,) * (x.ndim - 1)
        wm_t = torch.from_numpy(wm.astype(np.float32))
        alpha = pool.watermark[..., None] * wm_t.view(bshape)
        x = x * (1 - alpha) + alpha
        noise_t = torch.from_numpy(noise.astype(np.float32))
        x = x + render.NOISE_SIGMA * torch.randn(x.shape, generator=self.gen) * noise_t.view(bshape)
        x = x.clamp_(0, 1).mul_(255).round_().div_(255)  # uint8 quantisation, as stored data
        x = x.movedim(-1, -3).contiguous()
        pick_frames = pick_pairs = None
        if pick is not None:
            k_frames, k_pairs = min(pick[0], num_frames), min(pick[1], num_frames - 1)
            pick_frames = torch.from_numpy(np.stack([rng.choice(num_frames, k_frames, replace=False)
                                                     for _ in range(batch)]))
            pick_pairs = torch.from_numpy(np.stack([rng.choice(num_frames - 1, k_pairs, replace=False)
                                                    for _ in range(batch)]))
        return Batch(x, idx_t, torch.from_numpy(frame) if frames else None, base_t, wm_t, noise_t,
                     torch.from_numpy(shuffled.astype(np.float32)), pick_frames, pick_pairs)


# --------------------------------------------------------------------------------------------- training


def _loss(name: str, model: nn.Module, b: Batch, pool: Pool) -> torch.Tensor:
    """Training loss of network ``name`` on a batch (inputs already at the pool's size)."""
    if name in ("watermark", "style"):
        target = b.watermark if name == "watermark" else (b.base == STYLED).float()
        return F.binary_cross_entropy_with_logits(model(_resize(b.x)), target)
    labels = pool.labels[b.index]
    if name == "attributes":
        out = model(_resize_video(b.x), frames=b.pick_frames, pairs=b.pick_pairs)
        return sum(F.cross_entropy(out[a], labels[:, k]) for k, a in enumerate(ATTRIBUTES))
    if name == "fvd":
        out = model(_resize_video(b.x))
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
        out = model(_resize(b.x))
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
    model = _seeded_network(name, ncfg.arch(), ncfg.seed)
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
            _write_network(folder, name, model, config)
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


def network_sizes(nets: EvalNetworks) -> dict:
    """Parameters, and bytes of the saved tensors (parameters and BatchNorm statistics, heads included), of
    each network, and the total bytes."""
    out: dict = {}
    for name, module in nets.modules.items():
        state = module.state_dict().values()
        out[name] = {"parameters": num_parameters(module),
                     "bytes": sum(t.numel() * t.element_size() for t in state)}
    out["total_bytes"] = sum(v["bytes"] for v in out.values())
    return out


# ------------------------------------------------------------------------------------------- evaluation


def _accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return logits.argmax(dim=1) == target


def _attribute_report(logits: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    hits = [_accuracy(logits[a], labels[:, k]) for k, a in enumerate(ATTRIBUTES)]
    out = {a: float(h.float().mean()) for a, h in zip(ATTRIBUTES, hits)}
    out["all"] = float(torch.stack(hits).all(dim=0).float().mean())
    return out


def _frechet(x: torch.Tensor, y: torch.Tensor) -> float:
    from mcm.eval.frechet import frechet_distance_from_features

    return float(frechet_distance_from_features(x, y))


def _frames_of(videos: torch.Tensor) -> torch.Tensor:
    return videos.flatten(0, 1)


def evaluate_eval_networks(nets: EvalNetworks, world: WorldConfig, n: int = 256) -> dict:
    """Held-out report on fresh items (none is in the ``networks`` set):

    ``attributes[set][look]``: shape/colour/direction/all accuracy of the classifier on ``n`` clips of the
    ``seen`` and ``zero_shot`` sets (the latter: the held-out combinations) rendered degraded (V-like),
    clean (M-like) and styled; ``attributes_min``: the lowest of those numbers over the degraded and clean
    looks (the >= 0.97 requirement). ``watermark``: share of frames flagged (p > 0.5) among V's frames (the
    ``videos`` set as stored), M's clean rows and M's degraded rows (``images`` set), styled frames.
    ``style``: share flagged among styled frames, M's rows and V's frames. ``fvd``/``frame``: the feature
    networks' own heads on held-out clips, and Fréchet distances between two disjoint clean samples vs.
    clean and degraded / styled / frame-shuffled ones (the distance must grow with the change).
    """
    out: dict = {"n": n, "attributes": {}, "fvd": {}, "frame": {}}
    videos: dict[tuple[str, str], torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    for set_name in EVAL_SETS:
        out["attributes"][set_name] = {}
        for look in EVAL_LOOKS:
            arr, its = clips(world, set_name, n, look=look)
            v = _to_videos(arr)
            videos[set_name, look] = v
            labels[set_name] = torch.tensor([[it.combo.shape, it.combo.colour, it.combo.direction] for it in its])
            out["attributes"][set_name][look] = _attribute_report(nets.attribute_logits(v), labels[set_name])
    out["attributes_min"] = min(r[k] for s in EVAL_SETS for look in REQUIRED_LOOKS
                                for r in [out["attributes"][s][look]] for k in (*ATTRIBUTES, "all"))

    # V as stored (degraded with the watermark), M's rows (clean or degraded), the styled set.
    v_frames = _frames_of(_to_videos(clips(world, "videos", n)[0]))
    m_items = items(world, "images", n)
    m_frames = torch.stack([torch.from_numpy(render.to_uint8(it.pixels(world))) for it in m_items])
    m_frames = m_frames.permute(0, 3, 1, 2).float().div(255.0)
    m_clean = torch.tensor([it.degradation is None for it in m_items])
    styled_items = items(world, "styled", n)
    styled_frames = torch.stack([torch.from_numpy(render.to_uint8(it.pixels(world))) for it in styled_items])
    styled_frames = styled_frames.permute(0, 3, 1, 2).float().div(255.0)

    def flagged(p: torch.Tensor) -> float:
        return float((p > FLAG_THRESHOLD).float().mean()) if p.numel() else float("nan")

    wm_m = nets.watermark_prob(m_frames)
    out["watermark"] = {
        "v_frames_flagged": flagged(nets.watermark_prob(v_frames)),
        "m_clean_flagged": flagged(wm_m[m_clean]),
        "m_degraded_flagged": flagged(wm_m[~m_clean]),
        "styled_flagged": flagged(nets.watermark_prob(styled_frames)),
        "clean_clip_frames_flagged": flagged(nets.watermark_prob(_frames_of(videos["zero_shot", "clean"]))),
        "counts": {"v": int(v_frames.shape[0]), "m_clean": int(m_clean.sum()), "m_degraded": int((~m_clean).sum())},
    }
    st_m = nets.style_prob(m_frames)
    out["style"] = {
        "styled_flagged": flagged(nets.style_prob(styled_frames)),
        "m_flagged": flagged(st_m),
        "v_frames_flagged": flagged(nets.style_prob(v_frames)),
    }

    # Feature networks: own heads on held-out clips, and Fréchet distances (first half vs second half).
    fvd = nets.modules["fvd"]
    for set_name in EVAL_SETS:
        for look in ("degraded", "clean"):
            with torch.no_grad():
                heads = fvd(nets._videos(videos[set_name, look]))
            out["fvd"][f"{set_name}/{look}"] = _attribute_report({a: heads[a].cpu() for a in ATTRIBUTES},
                                                                  labels[set_name])
    frame_net = nets.modules["frame"]
    for set_name in EVAL_SETS:
        for look in ("degraded", "clean"):
            with torch.no_grad():
                heads = frame_net(nets._frames(_frames_of(videos[set_name, look])))
            per_frame = labels[set_name].repeat_interleave(world.num_frames, dim=0)
            out["frame"][f"{set_name}/{look}"] = {
                a: float(_accuracy(heads[a].cpu(), per_frame[:, k]).float().mean())
                for k, a in enumerate(ATTRIBUTES[:2])}

    # Fréchet distances from the first half of the clean seen clips to: the second half (the noise floor),
    # zero-shot clips (same marginals, other joint), and the second half degraded / styled / with frames
    # shuffled / frozen on its first frame / every object a circle / every object moving right (same
    # colours, sizes, speeds, backgrounds).
    half = n // 2
    seen_clean, seen_deg = videos["seen", "clean"], videos["seen", "degraded"]
    second = items(world, "seen", n)[half:]
    g = torch.Generator().manual_seed(0)
    others = {
        "clean_b": seen_clean[half:], "zero_shot": videos["zero_shot", "clean"][half:], "degraded": seen_deg[half:],
        "styled": videos["seen", "styled"][half:],
        "shuffled": seen_clean[half:, torch.randperm(seen_clean.shape[1], generator=g)],
        "frozen": seen_clean[half:, :1].expand_as(seen_clean[half:]),
        "circles": _rerendered(world, second, shape=SHAPES.index("circle")),
        "rightwards": _rerendered(world, second, direction=DIRECTIONS.index("right")),
    }
    ref = nets.fvd_features(seen_clean[:half])
    out["fvd"]["frechet"] = {k: _frechet(ref, nets.fvd_features(v)) for k, v in others.items()}
    ref = nets.frame_features(_frames_of(seen_clean[:half]))
    out["frame"]["frechet"] = {k: _frechet(ref, nets.frame_features(_frames_of(others[k])))
                               for k in ("clean_b", "degraded", "styled", "circles")}
    out["frame"]["frechet"]["m_clean"] = _frechet(ref, nets.frame_features(m_frames[m_clean]))
    return out


def _rerendered(world: WorldConfig, its: list, shape: Optional[int] = None,
                direction: Optional[int] = None) -> torch.Tensor:
    """Clean clips of ``its`` with the shape and/or direction replaced (same size, speed, colour, start)."""
    out = []
    for it in its:
        combo = Combo(it.combo.shape if shape is None else shape, it.combo.colour,
                      it.combo.direction if direction is None else direction)
        out.append(render.to_uint8(render.render_clean(combo, it.params, world.num_frames, world.size)))
    return _to_videos(np.stack(out))


def summary(report: dict) -> dict:
    """The headline numbers of an ``evaluate_eval_networks`` report."""
    att = report["attributes"]
    return {
        "attributes_min": report["attributes_min"],
        **{f"all/{s}/{look}": att[s][look]["all"] for s in EVAL_SETS for look in EVAL_LOOKS},
        "watermark_v": report["watermark"]["v_frames_flagged"],
        "watermark_m_clean": report["watermark"]["m_clean_flagged"],
        "style_styled": report["style"]["styled_flagged"], "style_m": report["style"]["m_flagged"],
    }
