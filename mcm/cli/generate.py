"""``mcm generate``: one video from a served student (a tritonclient HTTP client).

    mcm generate --url localhost:8000 --prompt "a red circle moving left" --steps 4 --seed 0 --out video.mp4
"""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    import torch

    from mcm.sampler.video_io import write_video
    from mcm.serve.client import GenerationError, generate

    from pathlib import Path

    as_mp4 = Path(args.out).suffix.lower() == ".mp4"
    try:
        got = generate(args.url, args.prompt, steps=args.steps, seed=args.seed, frames=args.frames,
                       model=args.model, timeout_s=args.timeout, mp4=as_mp4)
    except GenerationError as err:
        raise ValueError(str(err)) from None
    if as_mp4:  # the server encodes it
        video, data = got
        path = Path(args.out)
        path.write_bytes(data)
    else:
        video = got
        frames = torch.from_numpy(video.copy()).permute(0, 3, 1, 2).float() / 127.5 - 1  # (F, 3, H, W) in [-1, 1]
        path = write_video(frames, args.out)
    print(f"wrote {path} ({video.shape[0]} frames of {video.shape[2]}x{video.shape[1]})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``generate`` verb."""
    p = subparsers.add_parser("generate", help="generate a video with a served student (tritonclient)")
    p.add_argument("--url", required=True, help="host:port of the server's HTTP endpoint")
    p.add_argument("--prompt", required=True)
    p.add_argument("--steps", type=int, default=4, help="sampling steps, 1-8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=int, default=None, help="frame count (must be the exported one)")
    p.add_argument("--model", default="student", help="served model name")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds")
    p.add_argument("--out", required=True, help="output .mp4 or .gif")
    p.set_defaults(func=_run)
