import re

import pytest
import torch
from peft.tuners.tuners_utils import BaseTunerLayer

from mcm.config.load import load_config
from mcm.student.lora import (
    adapters_disabled, add_lora, load_adapter_folder, merge_lora, save_adapter_folder, trainable_parameters,
)
from mcm.teachers.registry import load_teacher


def student(kind="tiny_modelscope", rank=4):
    cfg = load_config("tiny", [f"teacher.kind={kind}", f"student.lora_rank={rank}"])
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets)
    return teacher, cfg


def randomise_lora(network):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in network.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_targets_cover_temporal_attention_and_skip_temporal_convs():
    teacher, _ = student()
    names = [n for n, m in teacher.network.named_modules() if isinstance(m, BaseTunerLayer)]
    assert any(re.search(r"temp_attentions\.\d+\.transformer_blocks\.0\.attn1\.to_q", n) for n in names)
    assert any(n.startswith("transformer_in.") for n in names)
    assert any(n.endswith("resnets.0.conv1") for n in names) and any("time_embedding.linear_1" == n for n in names)
    assert not any("temp_convs" in n for n in names)
    animatediff, _ = student("tiny_animatediff")
    ad_names = [n for n, m in animatediff.network.named_modules() if isinstance(m, BaseTunerLayer)]
    assert any("motion_modules" in n and n.endswith("attn1.to_q") for n in ad_names)


@pytest.mark.parametrize("kind", ["tiny_modelscope", "tiny_animatediff"])
def test_targets_cover_every_resnet_conv_shortcut(kind):
    """The authors' LoRA covers the 1x1 shortcut of a ResNet that changes width (issue 27: the regex skipped it)."""
    teacher, _ = student(kind)
    shortcuts = [n for n, _ in teacher.network.named_modules() if re.fullmatch(r".*resnets\.\d+\.conv_shortcut", n)]
    assert shortcuts, "the tiny UNet has ResNets that change width"
    lora = {n for n, m in teacher.network.named_modules() if isinstance(m, BaseTunerLayer)}
    assert set(shortcuts) <= lora, sorted(set(shortcuts) - lora)


@pytest.mark.parametrize("kind", ["tiny_modelscope", "tiny_animatediff"])
def test_student_starts_equal_to_teacher_and_only_lora_trains(kind):
    teacher, _ = student(kind)
    x, t, text = torch.randn(1, 4, 3, 8, 8), torch.tensor([400]), teacher.encode_text(["a"])
    with adapters_disabled(teacher.network):
        ref = teacher.predict_noise(x, t, text)
    torch.testing.assert_close(teacher.predict_noise(x, t, text), ref)
    params = trainable_parameters(teacher.network)
    assert params and all(p.requires_grad for p in params)
    n_lora = sum(p.numel() for n, p in teacher.network.named_parameters() if "lora_" in n)
    assert sum(p.numel() for p in params) == n_lora
    randomise_lora(teacher.network)
    assert (teacher.predict_noise(x, t, text) - ref).abs().max() > 1e-3
    with adapters_disabled(teacher.network):  # one copy of the weights: disabling gives the teacher back
        torch.testing.assert_close(teacher.predict_noise(x, t, text), ref)


@pytest.mark.parametrize("kind", ["tiny_modelscope", "tiny_animatediff"])
def test_adapter_folder_round_trip_and_merge(tmp_path, kind):
    teacher, cfg = student(kind)
    randomise_lora(teacher.network)
    x, t, text = torch.randn(1, 4, 3, 8, 8), torch.tensor([400]), teacher.encode_text(["a"])
    out = teacher.predict_noise(x, t, text)
    save_adapter_folder(teacher.network, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    fresh = load_teacher(cfg.teacher)
    load_adapter_folder(fresh.network, tmp_path / "adapter")
    torch.testing.assert_close(fresh.predict_noise(x, t, text), out, rtol=1e-5, atol=1e-5)
    merged = merge_lora(fresh.network)
    assert not any(isinstance(m, BaseTunerLayer) for m in merged.modules())
    torch.testing.assert_close(fresh.predict_noise(x, t, text), out, rtol=1e-4, atol=1e-4)
