"""``mcm export``: a distilled student for the tools users already run.

    mcm export --checkpoint runs/LATEST --out exports/toy                      # diffusers format + ONNX parts
    mcm export --checkpoint runs/toy --out exports/toy --format diffusers      # only the diffusers format
    mcm export --checkpoint runs/toy --out exports/toy --format onnx --tensorrt  # + fp16 TensorRT engines (GPU)
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from mcm.export.diffusers_student import export_diffusers
    from mcm.export.onnx_parts import export_onnx, export_teacher_unet, tensorrt_unavailable_reason
    from mcm.sampler.student import load_student
    from mcm.student.lora import merge_lora

    teacher, cfg = load_student(args.checkpoint)
    teacher.network.requires_grad_(False)
    formats = args.format or ["diffusers", "onnx"]
    teacher_unet = None
    if "onnx" in formats:  # the served baseline: the teacher's UNet, exported before the LoRA is merged
        teacher_unet = export_teacher_unet(teacher, cfg, args.out, tolerance=args.onnx_tolerance)
    if "diffusers" in formats:
        info = export_diffusers(teacher, cfg, args.out, source=str(args.checkpoint))
        print(f"diffusers: {args.out} ({', '.join(info['files'])})")
    if "onnx" in formats:
        merge_lora(teacher.network)  # a no-op when the diffusers export merged it already
        export_onnx(teacher, cfg, args.out, tolerance=args.onnx_tolerance, teacher_unet=teacher_unet)
        if args.tensorrt:
            reason = tensorrt_unavailable_reason()
            if reason:
                print(f"tensorrt: skipped: {reason}")
            else:
                from pathlib import Path

                from mcm.export.tensorrt_engines import build_engines

                built = build_engines(Path(args.out) / "onnx", args.out)
                print(f"tensorrt: {', '.join(built)} engines in {args.out}/tensorrt")
    elif args.tensorrt:
        raise ValueError("--tensorrt builds engines from the ONNX parts: add --format onnx")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` verb."""
    p = subparsers.add_parser("export", help="export a student: diffusers format (merged UNet pipeline or LoRA "
                              "file + LCMScheduler + model card), ONNX parts checked with onnxruntime, TensorRT")
    p.add_argument("--checkpoint", required=True, help="run folder, exported student folder, or runs/LATEST")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", nargs="+", choices=("diffusers", "onnx"), help="what to write (default: both)")
    p.add_argument("--tensorrt", action="store_true", help="also build fp16 TensorRT engines (CUDA + tensorrt)")
    p.add_argument("--onnx-tolerance", type=float, default=1e-3,
                   help="bound on max |onnxruntime - PyTorch| of each ONNX part")
    p.set_defaults(func=_run)
