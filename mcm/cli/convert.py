"""``mcm convert``: turn a third-party feature-network checkpoint into safetensors, once.

    mcm convert i3d rgb_imagenet.pt i3d.safetensors          # pytorch-i3d InceptionI3d state dict (FVD)
    mcm convert inception weights-inception.pth fid.safetensors  # torch-fidelity InceptionV3 (FID)
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from mcm.eval.convert import convert_i3d, convert_inception

    convert = {"i3d": convert_i3d, "inception": convert_inception}[args.network]
    n = convert(args.src, args.dst)
    print(f"wrote {n} tensors to {args.dst}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``convert`` verb."""
    p = subparsers.add_parser("convert", help="convert a .pt/.pth feature-network state dict to safetensors")
    p.add_argument("network", choices=["i3d", "inception"], help="which network layout the checkpoint has")
    p.add_argument("src", help="source .pt/.pth state dict (opened with torch.load(weights_only=True))")
    p.add_argument("dst", help="output .safetensors file")
    p.set_defaults(func=_run)
