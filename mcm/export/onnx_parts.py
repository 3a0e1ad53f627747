"""The student's parts as ONNX graphs (``mcm export --format onnx``): text encoder, merged UNet, VAE decoder.

Each part is exported with the TorchScript exporter (``torch.onnx.export(..., dynamo=False)``: the dynamo
exporter needs ``onnxscript``, which the project does not pin) with a dynamic batch axis, then run with
onnxruntime on two batch sizes against the PyTorch module; the largest absolute difference is recorded in
``onnx/parts.json`` and must stay within ``tolerance``. Frames and resolution are fixed at export (the
student's training clip size): the UNet traces its frame count into reshapes.

    text_encoder.onnx   input_ids (B, L) int64                                 -> text_states (B, L, D)
    unet.onnx           sample (B, C, F, h, w), timestep (B,) int64, text_states -> noise_pred (B, C, F, h, w)
    vae_decoder.onnx    latents (N, C, h, w), already divided by the VAE's scaling factor -> pixels (N, 3, H, W)
    teacher_unet.onnx   (``export_teacher_unet``) the same UNet with the LoRA disabled: the served baseline

The teacher's UNet is exported from the student's network with its adapters disabled, before the LoRA is merged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from mcm.config.schema import MCMConfig
from mcm.teachers.base import Teacher

ONNX_DIR = "onnx"
PARTS_FILE = "parts.json"
OPSET = 17
DEFAULT_TOLERANCE = 1e-3
CHECK_BATCHES = (1, 2)


class _UNetPart(nn.Module):
    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, text_states):
        return self.unet(sample, timestep, encoder_hidden_states=text_states, return_dict=False)[0]


class _TextPart(nn.Module):
    def __init__(self, text_encoder: nn.Module):
        super().__init__()
        self.text_encoder = text_encoder

    def forward(self, input_ids):
        return self.text_encoder(input_ids)[0]


class _DecoderPart(nn.Module):
    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        return self.vae.decode(latents).sample


@dataclass
class PartSpec:
    name: str
    module: nn.Module
    inputs: Callable[[int], dict[str, torch.Tensor]]  # batch -> example inputs
    output: str


def part_specs(teacher: Teacher, cfg: MCMConfig, frames: int) -> list[PartSpec]:
    """The three parts of a merged student and example inputs of each (batch as the argument)."""
    if teacher.vae is None or teacher.text_encoder is None:
        raise ValueError(f"teacher.kind={cfg.teacher.kind!r} has no VAE or text encoder to export")
    f = teacher.vae_scale_factor
    h, w = cfg.data.height // f, cfg.data.width // f
    length = teacher.text_max_length
    width = teacher.text_encoder.config.hidden_size
    vocab = teacher.text_encoder.config.vocab_size
    c = teacher.latent_channels

    def text_inputs(b: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.randint(0, vocab, (b, length), generator=torch.Generator().manual_seed(b))}

    def unet_inputs(b: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(100 + b)
        return {"sample": torch.randn(b, c, frames, h, w, generator=g),
                "timestep": torch.randint(0, teacher.schedule["num_train_timesteps"], (b,), generator=g),
                "text_states": torch.randn(b, length, width, generator=g)}

    def decoder_inputs(b: int) -> dict[str, torch.Tensor]:
        return {"latents": torch.randn(b, c, h, w, generator=torch.Generator().manual_seed(200 + b))}

    return [PartSpec("text_encoder", _TextPart(teacher.text_encoder), text_inputs, "text_states"),
            PartSpec("unet", _UNetPart(teacher.network), unet_inputs, "noise_pred"),
            PartSpec("vae_decoder", _DecoderPart(teacher.vae), decoder_inputs, "pixels")]


def export_part(spec: PartSpec, path: Path) -> None:
    example = spec.inputs(2)
    names = list(example)
    dynamic = {n: {0: "batch"} for n in names + [spec.output]}
    with torch.no_grad():
        torch.onnx.export(spec.module.eval(), tuple(example.values()), str(path), input_names=names,
                          output_names=[spec.output], dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def check_part(spec: PartSpec, path: Path, batches: tuple[int, ...] = CHECK_BATCHES) -> float:
    """Largest |onnxruntime - PyTorch| over the example inputs of each batch size."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for b in batches:
        inputs = spec.inputs(b)
        got = session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]
        with torch.no_grad():
            want = spec.module(*inputs.values()).float().numpy()
        if got.shape != want.shape:
            raise ValueError(f"onnx part {spec.name}: batch {b} gave shape {got.shape}, PyTorch {want.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_teacher_unet(teacher: Teacher, cfg: MCMConfig, out: str | Path, tolerance: float = DEFAULT_TOLERANCE,
                        frames: int | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """``out/onnx/teacher_unet.onnx``: the UNet with the student's LoRA disabled (call before merging it)."""
    from mcm.student.lora import adapters_disabled, lora_layers

    if not lora_layers(teacher.network):
        raise ValueError("the network carries no LoRA (merged already?): export the teacher's UNet before merging")
    folder = Path(out) / ONNX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    spec = next(s for s in part_specs(teacher, cfg, frames or cfg.data.num_frames) if s.name == "unet")
    spec.name = "teacher_unet"
    path = folder / "teacher_unet.onnx"
    with adapters_disabled(teacher.network):
        export_part(spec, path)
        err = check_part(spec, path)
    echo(f"onnx teacher_unet: {path.stat().st_size / 2**20:.1f} MB, max |onnxruntime - torch| = {err:.2e}")
    if not err <= tolerance:
        raise ValueError(f"onnx part teacher_unet: max abs error {err:.3g} exceeds the bound {tolerance:g}")
    return {"file": path.name, "max_abs_error": err, "guidance": default_guidance(cfg)}


def default_guidance(cfg: MCMConfig) -> float:
    """The teacher baseline's standard CFG scale g: the middle of the distillation's w range, plus one."""
    return (cfg.teacher.guidance_min + cfg.teacher.guidance_max) / 2 + 1


def export_onnx(teacher: Teacher, cfg: MCMConfig, out: str | Path, tolerance: float = DEFAULT_TOLERANCE,
                frames: int | None = None, echo: Callable[[str], None] = print,
                teacher_unet: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Export the merged student's parts to ``out/onnx`` and check each against PyTorch (see the module doc);
    ``teacher_unet`` is :func:`export_teacher_unet`'s record, kept in parts.json."""
    folder = Path(out) / ONNX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    frames = frames or cfg.data.num_frames
    teacher.network.eval()
    parts: dict[str, Any] = {}
    for spec in part_specs(teacher, cfg, frames):
        path = folder / f"{spec.name}.onnx"
        export_part(spec, path)
        err = check_part(spec, path)
        echo(f"onnx {spec.name}: {path.stat().st_size / 2**20:.1f} MB, max |onnxruntime - torch| = {err:.2e} "
             f"(batches {', '.join(map(str, CHECK_BATCHES))}; bound {tolerance:g})")
        if not err <= tolerance:
            raise ValueError(f"onnx part {spec.name}: max abs error {err:.3g} exceeds the bound {tolerance:g}")
        example = spec.inputs(1)
        parts[spec.name] = {"file": path.name, "max_abs_error": err, "inputs": {k: [None, *v.shape[1:]] for k, v in
                                                                              example.items()}, "output": spec.output}
    info = {"opset": OPSET, "frames": frames, "height": cfg.data.height, "width": cfg.data.width,
            "vae_scaling_factor": float(teacher.vae.config.scaling_factor), "tolerance": tolerance, "parts": parts,
            "schedule": dict(teacher.schedule)}
    if teacher_unet is not None:
        info["teacher_unet"] = teacher_unet
    (folder / PARTS_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info


def tensorrt_unavailable_reason() -> str | None:
    """Why TensorRT engines cannot be built here (None when a GPU and the tensorrt package are present)."""
    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine (TensorRT engines are built on the serving GPU: see images/serve)"
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return "the tensorrt package is not installed (pip install the 'tensorrt' extra where CUDA is present)"
    return None
