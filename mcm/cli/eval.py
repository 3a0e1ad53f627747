"""``mcm eval``: evaluate samplers (FVD, motion FD, CLIPSIM, FID) and write metrics.json + report.html.

    mcm eval --config toy [--set prompts.path=data/world/prompts/zero_shot.csv] [--out runs/eval]
    mcm eval --config params.yaml --section eval [--device cuda] [--protocol toy]
    torchrun --nproc-per-node 8 -m mcm.cli.main eval --config examples/eval-real.yaml
"""

from __future__ import annotations

import argparse
import os


def _run(args: argparse.Namespace) -> int:
    import torch

    from mcm.eval.config import load_eval_config
    from mcm.eval.runner import run_evaluation

    cfg = load_eval_config(args.config, {"out_dir": args.out, "device": args.device, "protocol": args.protocol},
                           sets=args.set, section=args.section)
    launched = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    if launched and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cfg.device.startswith("cuda") else "gloo")
        if cfg.device.startswith("cuda"):
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    doc = run_evaluation(cfg)
    if doc["world_size"] == 1 or torch.distributed.get_rank() == 0:
        print(f"wrote {cfg.out_dir / 'metrics.json'} and {cfg.out_dir / 'report.html'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``eval`` verb."""
    p = subparsers.add_parser(
        "eval", help="evaluate samplers: FVD, motion FD, CLIPSIM, FID (or the world's toy metrics), HTML report"
    )
    p.add_argument("--config", required=True,
                   help="preset (mcm/eval/presets: toy) or YAML file of mcm.eval.config.EvalConfig")
    p.add_argument("--section", help="dotted key of the config inside the YAML file (e.g. eval of params.yaml)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field (dotted key, YAML value), e.g. prompts.limit=8 (repeatable)")
    p.add_argument("--out", default=None, help="output folder (overrides out_dir)")
    p.add_argument("--device", default=None, help="device (overrides device), e.g. cuda")
    p.add_argument("--protocol", default=None, choices=("real", "toy"),
                   help="metric protocol (overrides protocol): real (I3D/CLIP/Inception) or toy (the small world's)")
    p.set_defaults(func=_run)
