"""`mcm export`: the student loads in stock diffusers (no mcm code on the loading path) and samples what mcm
samples; its ONNX parts match PyTorch under onnxruntime."""

import json

import numpy as np
import pytest
import torch

from mcm.config.load import load_config
from mcm.export.diffusers_student import ADAPTER_DIR, LORA_FILE, export_diffusers
from mcm.export.onnx_parts import export_onnx
from mcm.sampler.api import VideoGenerator
from mcm.student.lora import add_lora, lora_layers, merge_lora
from mcm.teachers.registry import load_teacher
from mcm.teachers.tiny import save_teacher_folder

PROMPT = "a red ball"
SEED = 3


def trained_looking_student(overrides=()):
    """A tiny teacher with a LoRA whose B matrices are non-zero (as after distillation), in inference mode."""
    cfg = load_config("tiny", list(overrides))
    teacher = load_teacher(cfg.teacher)
    add_lora(teacher.network, cfg.student, teacher.lora_targets, seed=0)
    g = torch.Generator().manual_seed(1)
    for layer in lora_layers(teacher.network):
        for key in layer.lora_B:
            layer.lora_B[key].weight.data.normal_(0, 0.05, generator=g)
    teacher.network.requires_grad_(False)
    return teacher, cfg


def mcm_video(teacher, cfg, steps=1):
    return VideoGenerator(teacher, cfg, "lcm", steps, 1.0, cfg.data.num_frames)([PROMPT], [SEED])


def pipeline_video(pipe, cfg, steps=1):
    return pipe(PROMPT, num_inference_steps=steps, guidance_scale=1.0, num_frames=cfg.data.num_frames,
                height=cfg.data.height, width=cfg.data.width, generator=torch.Generator().manual_seed(SEED),
                output_type="pt").frames


def test_modelscope_student_loads_in_stock_diffusers(tmp_path):
    from diffusers import LCMScheduler, TextToVideoSDPipeline

    teacher, cfg = trained_looking_student()
    want = mcm_video(teacher, cfg)
    export_diffusers(teacher, cfg, tmp_path / "student", source="test")
    pipe = TextToVideoSDPipeline.from_pretrained(tmp_path / "student")  # stock diffusers only
    assert isinstance(pipe.scheduler, LCMScheduler)
    assert pipe.scheduler.config.timestep_scaling == cfg.distill.timestep_scaling
    assert pipe.scheduler.config.original_inference_steps == cfg.distill.num_ddim_timesteps
    got = pipeline_video(pipe, cfg)
    assert got.shape == want.shape
    assert float((got - want).abs().max()) <= 1e-4
    card = (tmp_path / "student" / "README.md").read_text()
    assert "tiny_modelscope" in card and "licence" in card and "guidance_scale=1" in card
    # 4 steps: mcm re-noises in the (B, C, F, h, w) layout, the pipeline in (B*F, C, h, w): same law, other draws.
    four = float((pipeline_video(pipe, cfg, 4) - mcm_video(load_student_again(tmp_path), cfg, 4)).abs().max())
    assert four > 1e-3


def load_student_again(tmp_path):
    """The merged student as mcm sees it (the export merged the LoRA into the network in place)."""
    from diffusers import TextToVideoSDPipeline

    cfg = load_config("tiny")
    teacher = load_teacher(cfg.teacher)
    teacher.network = TextToVideoSDPipeline.from_pretrained(tmp_path / "student").unet
    return teacher


def test_animatediff_lora_file_loads_with_load_lora_weights(tmp_path):
    from diffusers import (AnimateDiffPipeline, AutoencoderKL, LCMScheduler, MotionAdapter,
                           UNet2DConditionModel)
    from transformers import CLIPTextModel, CLIPTokenizer

    teacher, cfg = trained_looking_student(["teacher.kind=tiny_animatediff", "student.lora_alpha=8"])
    base = tmp_path / "teacher"
    plain = load_teacher(cfg.teacher)
    save_teacher_folder(plain, base)
    want = mcm_video(teacher, cfg)
    export_diffusers(teacher, cfg, tmp_path / "student", source="test")

    def pipeline(adapter):
        return AnimateDiffPipeline(
            vae=AutoencoderKL.from_pretrained(base / "vae"), text_encoder=CLIPTextModel.from_pretrained(base / "text_encoder"),
            tokenizer=CLIPTokenizer.from_pretrained(base / "tokenizer"),
            unet=UNet2DConditionModel.from_pretrained(base / "unet"), motion_adapter=MotionAdapter.from_pretrained(adapter),
            scheduler=LCMScheduler.from_pretrained(tmp_path / "student", subfolder="scheduler"))

    pipe = pipeline(tmp_path / "student" / ADAPTER_DIR)
    without_lora = pipeline_video(pipe, cfg)
    pipe.load_lora_weights(tmp_path / "student", weight_name=LORA_FILE)
    got = pipeline_video(pipe, cfg)
    assert float((got - want).abs().max()) <= 1e-4
    assert float((without_lora - want).abs().max()) > 1e-3  # the LoRA file carries most of the student


def test_onnx_parts_match_pytorch_with_dynamic_batch(tmp_path):
    import onnxruntime as ort

    teacher, cfg = trained_looking_student()
    merge_lora(teacher.network)
    lines = []
    info = export_onnx(teacher, cfg, tmp_path, echo=lines.append)
    assert set(info["parts"]) == {"text_encoder", "unet", "vae_decoder"}
    assert all(p["max_abs_error"] <= 1e-3 for p in info["parts"].values()), info["parts"]
    assert len(lines) == 3 and "max |onnxruntime - torch|" in lines[0]
    assert json.loads((tmp_path / "onnx" / "parts.json").read_text())["frames"] == cfg.data.num_frames
    # A batch the export never saw: 3 videos through the UNet graph.
    session = ort.InferenceSession(str(tmp_path / "onnx" / "unet.onnx"), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, cfg.data.num_frames, 8, 8, generator=g)
    t = torch.tensor([999, 500, 1])
    text = teacher.encode_text([PROMPT, "a blue cube", ""])
    got = session.run(None, {"sample": x.numpy(), "timestep": t.numpy(), "text_states": text.numpy()})[0]
    with torch.no_grad():
        want = teacher.network(x, t, encoder_hidden_states=text).sample.numpy()
    assert np.abs(got - want).max() <= 1e-3


def test_onnx_error_bound_is_enforced(tmp_path):
    teacher, cfg = trained_looking_student()
    merge_lora(teacher.network)
    with pytest.raises(ValueError, match="exceeds the bound"):
        export_onnx(teacher, cfg, tmp_path, tolerance=1e-12, echo=lambda _: None)


def test_export_cli_from_a_run_folder(tmp_path, capsys):
    from mcm.cli.main import main

    run = tmp_path / "run"
    assert main(["distill", "--config", "tiny", "--max-steps", "1", "--output", str(run),
                 "--set", "train.validate_every=0"]) == 0
    assert main(["export", "--checkpoint", str(run), "--out", str(tmp_path / "out"), "--tensorrt"]) == 0
    out = capsys.readouterr().out
    assert "diffusers:" in out and "onnx unet" in out and "onnx teacher_unet" in out
    assert "tensorrt: skipped" in out or "tensorrt:" in out
    assert (tmp_path / "out" / "model_index.json").is_file() and (tmp_path / "out" / "onnx" / "unet.onnx").is_file()
    parts = json.loads((tmp_path / "out" / "onnx" / "parts.json").read_text())
    assert parts["teacher_unet"]["max_abs_error"] <= 1e-3 and parts["teacher_unet"]["guidance"] == 11.0
    assert main(["export", "--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path / "o2")]) == 2


def test_export_cli_reads_a_config_section_and_flags_win(tmp_path, capsys):
    """`mcm export --config params.yaml --section export` (what dvc.yaml runs): formats and out come from the
    section, a flag given beside it wins, --set overrides a key; a bad key or value is a one-line error."""
    from mcm.cli.main import main

    run = tmp_path / "run"
    assert main(["distill", "--config", "tiny", "--max-steps", "1", "--output", str(run),
                 "--set", "train.validate_every=0"]) == 0
    params = tmp_path / "params.yaml"
    params.write_text(f"export:\n  checkpoint: {tmp_path / 'elsewhere'}\n  out: {tmp_path / 'from_yaml'}\n"
                      "  formats: [onnx]\n")
    assert main(["export", "--config", str(params), "--section", "export", "--checkpoint", str(run)]) == 0
    assert (tmp_path / "from_yaml" / "onnx" / "unet.onnx").is_file()
    assert not (tmp_path / "from_yaml" / "model_index.json").exists()  # formats: [onnx] only
    assert main(["export", "--config", str(params), "--section", "export", "--checkpoint", str(run),
                 "--set", "formats=[diffusers]", "--out", str(tmp_path / "flag")]) == 0
    assert (tmp_path / "flag" / "model_index.json").is_file() and not (tmp_path / "flag" / "onnx").exists()
    capsys.readouterr()
    assert main(["export", "--config", str(params), "--section", "export", "--set", "formats=[gif]"]) == 2
    assert "formats" in capsys.readouterr().err
    assert main(["export", "--config", str(params), "--section", "export", "--set", "speed=9"]) == 2
    assert "speed" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "o3")]) == 2
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(run), "--out", str(tmp_path / "o4"), "--format", "diffusers",
                 "--tensorrt"]) == 2
    assert "onnx" in capsys.readouterr().err
