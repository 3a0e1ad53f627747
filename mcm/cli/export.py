"""``mcm export``: a distilled student for the tools users already run.

    mcm export --checkpoint runs/LATEST --out exports/toy                      # diffusers format + ONNX parts
    mcm export --checkpoint runs/toy --out exports/toy --format diffusers      # only the diffusers format
    mcm export --checkpoint runs/toy --out exports/toy --format onnx --tensorrt  # + fp16 TensorRT engines (GPU)
    mcm export --config params.yaml --section export [--set formats=[onnx]]    # params.yaml's export section

Flags given on the command line override the config section's keys (checkpoint, out, formats, tensorrt,
onnx_tolerance: mcm.export.config.ExportConfig).
"""

from __future__ import annotations

import argparse

from mcm.cli.yaml_args import apply_sets, load_section


def export_config(args: argparse.Namespace):
    """The ExportConfig of ``--config``/``--section``/``--set``, with the flags given on top."""
    from pydantic import ValidationError

    from mcm.export.config import ExportConfig

    data = apply_sets(load_section(args.config, args.section), args.set)
    flags = {"checkpoint": args.checkpoint, "out": args.out, "formats": args.format,
             "onnx_tolerance": args.onnx_tolerance, "tensorrt": args.tensorrt or None}
    data.update({k: v for k, v in flags.items() if v is not None})
    try:
        return ExportConfig.model_validate(data).require_paths()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"config: invalid value ({problems})") from None


def _run(args: argparse.Namespace) -> int:
    from mcm.export.diffusers_student import export_diffusers
    from mcm.export.onnx_parts import export_onnx, export_teacher_unet, tensorrt_unavailable_reason
    from mcm.sampler.student import load_student
    from mcm.student.lora import merge_lora

    export = export_config(args)
    teacher, cfg = load_student(export.checkpoint)
    teacher.network.requires_grad_(False)
    formats, out, tolerance = export.formats, export.out, export.onnx_tolerance
    teacher_unet = None
    if "onnx" in formats:  # the served baseline: the teacher's UNet, exported before the LoRA is merged
        teacher_unet = export_teacher_unet(teacher, cfg, out, tolerance=tolerance)
    if "diffusers" in formats:
        info = export_diffusers(teacher, cfg, out, source=str(export.checkpoint))
        print(f"diffusers: {out} ({', '.join(info['files'])})")
    if "onnx" in formats:
        merge_lora(teacher.network)  # a no-op when the diffusers export merged it already
        export_onnx(teacher, cfg, out, tolerance=tolerance, teacher_unet=teacher_unet)
        if export.tensorrt:
            reason = tensorrt_unavailable_reason()
            if reason:
                print(f"tensorrt: skipped: {reason}")
            else:
                from pathlib import Path

                from mcm.export.tensorrt_engines import build_engines

                built = build_engines(Path(out) / "onnx", out)
                print(f"tensorrt: {', '.join(built)} engines in {out}/tensorrt")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` verb."""
    p = subparsers.add_parser("export", help="export a student: diffusers format (merged UNet pipeline or LoRA "
                              "file + LCMScheduler + model card), ONNX parts checked with onnxruntime, TensorRT")
    p.add_argument("--checkpoint", help="run folder, exported student folder, or runs/LATEST")
    p.add_argument("--out", help="output folder")
    p.add_argument("--format", nargs="+", choices=("diffusers", "onnx"), help="what to write (default: both)")
    p.add_argument("--tensorrt", action="store_true", help="also build fp16 TensorRT engines (CUDA + tensorrt)")
    p.add_argument("--onnx-tolerance", type=float,
                   help="bound on max |onnxruntime - PyTorch| of each ONNX part (default 1e-3)")
    p.add_argument("--config", help="YAML file with the export settings (e.g. params.yaml)")
    p.add_argument("--section", help="dotted key of the settings inside the file (e.g. export)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a key (YAML value)")
    p.set_defaults(func=_run)
