"""Constants and training configs of the world's evaluation networks.

``NET_NAMES`` / ``TRAIN_ORDER`` name the five networks (each a sub-folder of an evaluation-networks folder);
``EvalNetTrainConfig`` holds one ``NetTrainConfig`` per network (steps, batch, learning rate, seed, conv widths and
the ``LookMix`` its samples are composed with) and the shared settings (pool size, report size, threads).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from pydantic import Field, model_validator

from mcm.config.base import StrictConfig
from mcm.world import render
from mcm.world.spec import COLOURS, DIRECTIONS, SHAPES

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
