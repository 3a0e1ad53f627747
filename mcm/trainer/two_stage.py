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

from safetensors.torch import load_file
from torch import nn

from mcm.config.schema import TwoStageConfig
from mcm.student.lora import load_lora_state_dict

FINAL_ADAPTER = Path("final") / "adapter_model.safetensors"
STUDENT_PREFIX = "student."


def is_temporal(name: str, pattern: str) -> bool:
    return re.fullmatch(pattern, name) is not None


def load_stage_one(network: nn.Module, run_dir: str | Path) -> None:
    """Load the LoRA of a finished (or checkpointed) spatial-stage run into ``network``."""
    from mcm.trainer.checkpoint import WEIGHTS, Checkpointer

    run_dir = Path(run_dir)
    if (run_dir / FINAL_ADAPTER).is_file():
        state = load_file(str(run_dir / FINAL_ADAPTER))
    else:
        latest = Checkpointer(run_dir, keep_last=1).latest()
        if latest is None:
            raise ValueError(f"two_stage.init_from={str(run_dir)!r} has neither {FINAL_ADAPTER} nor a checkpoint")
        weights = load_file(str(latest / WEIGHTS))
        state = {k[len(STUDENT_PREFIX):]: v for k, v in weights.items() if k.startswith(STUDENT_PREFIX)}
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
