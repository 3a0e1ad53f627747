"""The two-stage baseline of Section 4.2: spatial LoRA layers on images, then temporal LoRA layers on videos."""

import pytest
import torch

from mcm.config.load import load_config
from mcm.student.lora import lora_state_dict
from mcm.trainer.trainer import Trainer
from mcm.trainer.two_stage import is_temporal

STEPS = ["optim.max_steps=2", "optim.warmup_steps=0", "optim.lr=1e-2", "train.validate_every=0",
         "train.checkpoint_every=2"]


def lora(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in lora_state_dict(trainer.teacher.network).items()}


def split(state: dict, pattern: str) -> tuple[dict, dict]:
    temporal = {k: v for k, v in state.items() if is_temporal(k, pattern)}
    return {k: v for k, v in state.items() if k not in temporal}, temporal


def moved(before: dict, after: dict) -> float:
    return max((after[k] - before[k]).abs().max().item() for k in before)


def test_spatial_then_temporal_stage_train_only_their_layers(tmp_path):
    stage1 = Trainer(load_config("two_stage_spatial", STEPS), tmp_path / "spatial")
    pattern = stage1.cfg.two_stage.temporal_pattern
    assert stage1.dataset[0]["video"].shape[0] == 1  # images as 1-frame clips
    before = lora(stage1)
    assert stage1.train() == "done"
    spatial0, temporal0 = split(before, pattern)
    spatial1, temporal1 = split(lora(stage1), pattern)
    assert temporal0 and spatial0
    assert moved(spatial0, spatial1) > 1e-4 and moved(temporal0, temporal1) == 0.0

    stage2 = Trainer(load_config("two_stage_temporal", [*STEPS, f"two_stage.init_from={tmp_path / 'spatial'}"]),
                     tmp_path / "temporal")
    spatial_loaded, _ = split(lora(stage2), pattern)
    assert moved(spatial1, spatial_loaded) == 0.0  # stage 1's spatial layers were loaded
    assert stage2.train() == "done"
    spatial2, temporal2 = split(lora(stage2), pattern)
    assert moved(spatial1, spatial2) == 0.0 and moved(temporal1, temporal2) > 1e-4


def test_two_stage_configuration_errors_name_the_field():
    with pytest.raises(ValueError, match="two_stage.init_from"):
        load_config("tiny", ["two_stage.stage=temporal"])
    with pytest.raises(ValueError, match="images.source"):
        load_config("tiny", ["two_stage.stage=spatial"])
    with pytest.raises(ValueError, match="discriminator.enabled"):
        load_config("mcm_tiny", ["two_stage.stage=spatial", "images.source=synthetic"])


def test_frozen_lora_layers_stay_frozen_through_teacher_passes(tmp_path):
    """Issue 8, defect 8: peft's enable_adapters (after each teacher pass with adapters off) set requires_grad
    on every LoRA parameter again, undoing the stage's freezing; ModelScope's transformer_in is temporal."""
    trainer = Trainer(load_config("two_stage_spatial", STEPS), tmp_path / "spatial")
    pattern = trainer.cfg.two_stage.temporal_pattern
    lora_params = {n: p for n, p in trainer.teacher.network.named_parameters() if "lora_" in n}
    frozen = {n: p for n, p in lora_params.items() if is_temporal(n, pattern)}
    assert frozen and any(n.startswith("transformer_in.") for n in frozen)  # transformer_in counts as temporal
    assert not any(p.requires_grad for p in frozen.values())
    trainer.micro_step(next(iter(trainer.loader)), 0)  # teacher pass (adapters off, then on again) + backward
    still_trainable = [n for n, p in frozen.items() if p.requires_grad]
    assert not still_trainable, f"frozen LoRA parameters trainable again: {still_trainable[:3]}"
    with_grad = [n for n, p in frozen.items() if p.grad is not None]
    assert not with_grad, f"frozen LoRA parameters got gradients: {with_grad[:3]}"
    assert any(p.grad is not None for n, p in lora_params.items() if n not in frozen)
