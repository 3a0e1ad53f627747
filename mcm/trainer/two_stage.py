"""The two-stage baseline of Section 4.2 (AnimateLCM [61]), the comparison of Table 3.

Stage 1, ``two_stage.stage: spatial``: the consistency-distillation loss of Eq. (3) (M = raw, no
discriminator) on images of the image set M, each a 1-frame clip (B, C, 1, h, w); only the *spatial* LoRA
layers train, the temporal ones (``two_stage.temporal_pattern``) stay at their initialisation (LoRA B = 0, so
they are the identity).
Stage 2, ``two_stage.stage: temporal``: the same loss (Eq. 3) on the videos of V; the spatial LoRA layers
are loaded from stage 1's run folder (``two_stage.init_from``: its ``final/`` adapter or newest checkpoint)
and frozen, only the temporal LoRA layers train.

MCM replaces both stages with one: all layers, videos of V for motion (Eq. 6) and images of M for appearance
through the discriminator (Eq. 4).
"""

from __future__ import annotations

import re
from pathlib import Path

from torch import nn

from mcm.config.training import TwoStageConfig
from mcm.runs.folder import student_lora_of_run
from mcm.student.lora import load_lora_state_dict


def is_temporal(name: str, pattern: str) -> bool:
    return re.fullmatch(pattern, name) is not None


def load_stage_one(network: nn.Module, run_dir: str | Path) -> None:
    """Load the LoRA of a finished (or checkpointed) spatial-stage run into ``network``."""
    try:
        state = student_lora_of_run(run_dir)
    except ValueError as err:
        raise ValueError(f"two_stage.init_from={str(run_dir)!r}: {err}") from None
    load_lora_state_dict(network, state)


def apply_two_stage(network: nn.Module, cfg: TwoStageConfig) -> dict[str, int]:
    """Freeze the LoRA parameters the stage does not train; returns counts of trained/frozen tensors."""
    if cfg.stage == "off":
        return {}
    if cfg.stage == "temporal":
        load_stage_one(network, cfg.init_from)
    train_temporal = cfg.stage == "temporal"
    counts = {"trained": 0, "frozen": 0}
    for name, p in network.named_parameters():
        if not p.requires_grad:
            continue
        keep = is_temporal(name, cfg.temporal_pattern) == train_temporal
        p.requires_grad_(keep)
        counts["trained" if keep else "frozen"] += 1
    if counts["trained"] == 0:
        raise ValueError(
            f"two_stage.stage={cfg.stage!r}: two_stage.temporal_pattern={cfg.temporal_pattern!r} leaves no "
            "LoRA parameter to train"
        )
    return counts
