"""The small world's own frozen evaluation networks (our stand-ins for CLIP, I3D and Inception).

Five small pure-torch CNNs (with BatchNorm, frozen in eval mode), trained on the world's ``networks`` set
only (seen combinations; no network ever sees a zero-shot combination):

``attributes``  video classifier: (N, F, 3, H, W) -> logits of shape, colour and direction (4 each), from an
                appearance pathway and a motion pathway (the CLIPSIM stand-in; ``attributes``).
``fvd``         video feature network: a (2+1)D CNN inflated from the frame net; the mean and max of its last
                activations (``fvd_dim``) define our Fréchet video distance (the I3D stand-in; ``video``).
``frame``       frame feature network: a per-frame 2D CNN whose pooled last activations (``frame_dim``) define
                our frame-quality distance to M (FID) (the Inception stand-in; ``frame``).
``watermark``   frames -> probability that V's fixed-place watermark is present (``spot``).
``style``       frames -> probability that the frame is the styled rendering (``spot``).

None of them is, or shares weights with, the discriminator's backbone (``mcm.discriminator``): the
discriminator trains on its own features, and evaluating it with the features it optimises would reward it
for fooling itself. Inputs are float in [0, 1]: videos (N, F, 3, H, W), frames (M, 3, H, W); any H = W is
resized internally to ``INPUT_SIZE`` (area averaging when it divides, antialiased bilinear otherwise).

Modules, one job each: ``config`` (constants and training configs), ``layers`` (shared resize, normalisation
and conv stacks), ``attributes``, ``video``, ``frame`` and ``spot`` (one network each), ``networks`` (the
frozen ``EvalNetworks`` object; build, save, load), ``pool`` (the training pool and its seeded batches),
``training`` (losses, ``train_network``, the resumable ``train_eval_networks``) and ``report`` (the held-out
report). Every name is re-exported here: ``from mcm.world.evalnets import X``.

On disk each network is ``folder/<name>/model.safetensors`` + ``folder/<name>/config.json`` (architecture,
training config, world config, training seconds), written to a temporary folder and renamed into place;
``train_eval_networks`` keeps a network whose folder is complete, so an interrupted run resumes.
"""

from __future__ import annotations

from mcm.world.evalnets.attributes import APPEARANCE_STRIDES, MOTION_DOWNSAMPLE, MOTION_STRIDES, AttributeNet
from mcm.world.evalnets.config import (
    BASES,
    BUILD_SEED_OFFSETS,
    CLEAN,
    CONFIG_FILE,
    EVAL_LOOKS,
    EVAL_SETS,
    FLAG_THRESHOLD,
    FORMAT_VERSION,
    INFER_CHUNK,
    INPUT_SCALE,
    INPUT_SHIFT,
    INPUT_SIZE,
    NET_NAMES,
    NUM_CLASSES,
    POOL_STREAM,
    REPORT_FILE,
    REQUIRED_LOOKS,
    SIZE_HALF,
    SIZE_MID,
    SOFT,
    SPEED_HALF,
    SPEED_MID,
    STYLED,
    TRAIN_ORDER,
    WEIGHTS_FILE,
    EvalNetTrainConfig,
    LookMix,
    NetTrainConfig,
)
from mcm.world.evalnets.frame import FRAME_HEADS, FRAME_STRIDES, FrameNet
from mcm.world.evalnets.layers import LAYER_MODULES
from mcm.world.evalnets.networks import (
    EvalNetworks,
    build_eval_networks,
    build_network,
    load_eval_networks,
    network_complete,
    num_parameters,
    save_eval_networks,
    seeded_network,
    write_network,
)
from mcm.world.evalnets.pool import Batch, BatchSampler, Pool, build_pool, soft_degrade
from mcm.world.evalnets.report import evaluate_eval_networks, network_sizes, summary
from mcm.world.evalnets.spot import SpotNet
from mcm.world.evalnets.training import train_eval_networks, train_network
from mcm.world.evalnets.video import (
    FIRST_CONV_WEIGHT,
    FVD_HEADS,
    TEMPORAL_KERNEL,
    VIDEO_STRIDES,
    TemporalConv,
    VideoNet,
)

#: The name ``seeded_network`` had when this package was one module (tests of the fvd net's inflation use it).
_seeded_network = seeded_network

__all__ = [
    "APPEARANCE_STRIDES",
    "BASES",
    "BUILD_SEED_OFFSETS",
    "CLEAN",
    "CONFIG_FILE",
    "EVAL_LOOKS",
    "EVAL_SETS",
    "FIRST_CONV_WEIGHT",
    "FLAG_THRESHOLD",
    "FORMAT_VERSION",
    "FRAME_HEADS",
    "FRAME_STRIDES",
    "FVD_HEADS",
    "INFER_CHUNK",
    "INPUT_SCALE",
    "INPUT_SHIFT",
    "INPUT_SIZE",
    "LAYER_MODULES",
    "MOTION_DOWNSAMPLE",
    "MOTION_STRIDES",
    "NET_NAMES",
    "NUM_CLASSES",
    "POOL_STREAM",
    "REPORT_FILE",
    "REQUIRED_LOOKS",
    "SIZE_HALF",
    "SIZE_MID",
    "SOFT",
    "SPEED_HALF",
    "SPEED_MID",
    "STYLED",
    "TEMPORAL_KERNEL",
    "TRAIN_ORDER",
    "VIDEO_STRIDES",
    "WEIGHTS_FILE",
    "AttributeNet",
    "Batch",
    "BatchSampler",
    "EvalNetTrainConfig",
    "EvalNetworks",
    "FrameNet",
    "LookMix",
    "NetTrainConfig",
    "Pool",
    "SpotNet",
    "TemporalConv",
    "VideoNet",
    "build_eval_networks",
    "build_network",
    "build_pool",
    "evaluate_eval_networks",
    "load_eval_networks",
    "network_complete",
    "network_sizes",
    "num_parameters",
    "save_eval_networks",
    "seeded_network",
    "soft_degrade",
    "summary",
    "train_eval_networks",
    "train_network",
    "write_network",
]
